"""Streaming readers of the three import formats: CSV, NDJSON and a JSON array.

Each takes the file as an async iterator of byte blocks and yields, per block, the records that
block completed, numbered from 1 in file order (a CSV header and blank lines are not records).
Memory holds about one block and one record at a time, whatever the file size.

A record that cannot be parsed (a CSV row with the wrong number of cells or bad quoting, an
NDJSON line that is not a JSON object) is still a record, carrying a `problem` instead of data:
it becomes a row error. A file that cannot be read at all (not UTF-8, no CSV header, a JSON
array broken mid-way) raises `FileUnreadable`, with a message meant for the client.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from impex_worker.imports.csv_columns import HeaderError, record_builder

FORMATS = ("csv", "ndjson", "json")
# No record may be larger: past it a file is unreadable (an unclosed quote or bracket would
# otherwise swallow the rest of the file into memory).
MAX_RECORD_CHARS = 16 * 1024 * 1024
RECORD_PROBLEM = "_record"
_BOM = codecs.BOM_UTF8
_WHITESPACE = " \t\r\n"

Blocks = AsyncIterator[bytes]
Problem = dict[str, list[str]]


class FileUnreadable(Exception):
    """The file as a whole cannot be read; the message says why (no personal data)."""


@dataclass(slots=True)
class Record:
    """One record: its number in the file, and either its data or why it cannot be parsed.

    A CSV record read with `defer=True` carries its cells and the header's builder instead of
    its data until `built()` is called: the worker builds records in its validation thread,
    beside the database, instead of on the event loop."""

    row: int
    data: Any = None
    problem: Problem | None = None
    cells: list[str] | None = None
    builder: Callable[[list[str]], dict[str, Any]] | None = None

    def built(self) -> Any:
        """The record's data (built now from its cells if reading deferred that)."""
        if self.cells is not None and self.builder is not None:
            self.data, self.cells, self.builder = self.builder(self.cells), None, None
        return self.data


def read_records(
    file_format: str, blocks: Blocks, *, skip: int = 0, build: bool = True, defer: bool = False
) -> AsyncIterator[list[Record]]:
    """The records of a file, in lists per block. The first `skip` records are parsed (to find
    where the next one starts) but not yielded: a resumed import skips what it already did.
    With `build=False` records carry no data (counting); with `defer=True` CSV records are
    built by `Record.built()` (see Record)."""
    if file_format == "csv":
        return _csv_records(blocks, skip, build, defer)
    if file_format == "ndjson":
        return _ndjson_records(blocks, skip, build)
    if file_format == "json":
        return _json_array_records(blocks, skip)
    raise FileUnreadable(f"Unknown file format {file_format!r}.")


async def count_records(file_format: str, blocks: Blocks) -> int:
    """How many records the file holds; raises FileUnreadable exactly as the import would."""
    count = 0
    async for records in read_records(file_format, blocks, build=False):
        count += len(records)
    return count


def _problem(message: str) -> Problem:
    return {RECORD_PROBLEM: [message]}


def _utf8_decoder() -> Callable[[bytes, bool], str]:
    """An incremental UTF-8 decoder (a BOM is dropped) that raises FileUnreadable."""
    decode = codecs.getincrementaldecoder("utf-8-sig")().decode
    consumed = 0

    def checked(data: bytes, final: bool = False) -> str:
        nonlocal consumed
        try:
            text = decode(data, final)
        except UnicodeDecodeError as exc:
            raise FileUnreadable(
                f"The file is not UTF-8 text (invalid byte near offset {consumed + exc.start})."
            ) from None
        consumed += len(data)
        return text

    return checked


# ------------------------------------------------------------------------------------ CSV


class _NeedMore(Exception):
    """The CSV reader wants a line that has not arrived yet."""


class _LineFeed:
    """The csv reader's input: lines as they arrive. When a record needs a line that has not
    arrived, `_NeedMore` stops the reader; `rewind` then puts the record's lines back so the
    reader starts that record again once more text is in."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.pos = 0
        self.start = 0
        self.eof = False

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self.pos < len(self.lines):
            line = self.lines[self.pos]
            self.pos += 1
            return line
        if self.eof:
            raise StopIteration
        raise _NeedMore

    def mark(self) -> None:
        self.start = self.pos

    def rewind(self) -> None:
        self.pos = self.start

    def add(self, lines: list[str]) -> None:
        """Drop the lines of finished records, then append `lines`."""
        del self.lines[: self.start]
        self.pos -= self.start
        self.start = 0
        if sum(map(len, self.lines)) > MAX_RECORD_CHARS:
            raise _too_large()
        self.lines.extend(lines)


def _too_large() -> FileUnreadable:
    return FileUnreadable("A CSV record is larger than 16 MiB (is a quote left open?).")


async def _csv_records(
    blocks: Blocks, skip: int, build: bool, defer: bool = False
) -> AsyncIterator[list[Record]]:
    decode = _utf8_decoder()
    feed = _LineFeed()
    reader = csv.reader(feed, strict=True)
    builder: Callable[[list[str]], dict[str, Any]] | None = None
    width = 0
    row = 0
    partial = ""
    async for block in _with_end(blocks):
        if block is None:
            feed.eof = True
            lines = [partial] if partial else []
        else:
            parts = (partial + decode(block)).split("\n")
            partial = parts.pop()
            if len(partial) > MAX_RECORD_CHARS:
                raise _too_large()
            lines = [part + "\n" for part in parts]
        feed.add(lines)
        records: list[Record] = []
        while True:
            feed.mark()
            try:
                cells = next(reader)
            except (_NeedMore, StopIteration):
                feed.rewind()
                break
            except csv.Error as exc:
                if builder is None:
                    raise FileUnreadable(f"The CSV header cannot be read: {exc}.") from None
                row += 1
                if row > skip:
                    records.append(Record(row, problem=_problem(f"Malformed CSV: {exc}.")))
                continue
            if not cells:
                continue  # a blank line is not a record
            if builder is None:
                builder, width = _header(cells), len(cells)
                continue
            row += 1
            if row <= skip:
                continue
            if not build:
                records.append(Record(row))
            elif len(cells) != width:
                problem = _problem(f"Expected {width} cells (as in the header), got {len(cells)}.")
                records.append(Record(row, builder(cells), problem))
            elif defer:
                records.append(Record(row, cells=cells, builder=builder))
            else:
                records.append(Record(row, builder(cells)))
        yield records
    decode(b"", True)
    if builder is None:
        raise FileUnreadable("The CSV file has no header row.")


def _header(cells: list[str]) -> Callable[[list[str]], dict[str, Any]]:
    try:
        return record_builder(cells)
    except HeaderError as exc:
        raise FileUnreadable(str(exc)) from None


async def _with_end(blocks: Blocks) -> AsyncIterator[bytes | None]:
    """The blocks, then None for the end of the file."""
    async for block in blocks:
        if block:
            yield block
    yield None


# --------------------------------------------------------------------------------- NDJSON


async def _ndjson_records(blocks: Blocks, skip: int, build: bool) -> AsyncIterator[list[Record]]:
    pending = b""
    first = True
    row = 0
    async for block in _with_end(blocks):
        if block is None:
            lines = [pending.removeprefix(_BOM) if first else pending]
        else:
            data = pending + block
            if first:
                if len(data) < len(_BOM):  # a BOM may be cut by the block boundary
                    pending = data
                    continue
                first = False
                data = data.removeprefix(_BOM)
            lines = data.split(b"\n")
            pending = lines.pop()
            if len(pending) > MAX_RECORD_CHARS:
                raise FileUnreadable("An NDJSON line is longer than 16 MiB.")
        records: list[Record] = []
        for line in lines:
            if not line.strip():
                continue  # a blank line is not a record
            row += 1
            if row > skip:
                records.append(_ndjson_record(row, line) if build else Record(row))
        yield records


def _ndjson_record(row: int, line: bytes) -> Record:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Record(row, problem=_problem("Not valid JSON (or not UTF-8)."))
    if not isinstance(data, dict):
        return Record(row, problem=_problem("Expected a JSON object."))
    return Record(row, data)


# ----------------------------------------------------------------------------- JSON array

_decode_value = json.JSONDecoder().raw_decode


class _JsonArray:
    """A JSON array read element by element from text that arrives in pieces."""

    def __init__(self) -> None:
        self.text = ""
        self.pos = 0
        self.offset = 0  # characters dropped before `text`
        self.state = "start"  # start → first → value ⇄ after → end

    def feed(self, text: str) -> None:
        self.offset += self.pos
        self.text = self.text[self.pos :] + text
        self.pos = 0

    def elements(self, eof: bool) -> list[Any]:
        """The elements complete in the text so far (an end state when the array closed)."""
        found: list[Any] = []
        while True:
            self._skip_whitespace()
            if self.pos >= len(self.text):
                break
            char = self.text[self.pos]
            if self.state == "start":
                if char != "[":
                    raise FileUnreadable("The file is not a JSON array.")
                self.pos += 1
                self.state = "first"
            elif self.state in ("first", "value"):
                if char == "]" and self.state == "first":
                    self.pos += 1
                    self.state = "end"
                    continue
                value = self._value(eof)
                if value is _INCOMPLETE:
                    break
                found.append(value)
                self.state = "after"
            elif self.state == "after":
                if char not in ",]":
                    self._broken("',' or ']' expected")
                self.pos += 1
                self.state = "value" if char == "," else "end"
            else:
                raise FileUnreadable("Unexpected data after the JSON array.")
        if eof and self.state != "end":
            if self.state == "start":
                raise FileUnreadable("The file is empty; expected a JSON array.")
            raise _not_closed()
        return found

    def _value(self, eof: bool) -> Any:
        try:
            value, end = _decode_value(self.text, self.pos)
        except json.JSONDecodeError as exc:
            if not eof and len(self.text) - self.pos < MAX_RECORD_CHARS:
                return _INCOMPLETE  # most likely cut by the block boundary: wait for more
            if exc.pos >= len(self.text.rstrip()):
                raise _not_closed() from None
            self._broken(exc.msg)
        except (ValueError, RecursionError) as exc:
            # Well-formed JSON Python will not build: an integer past its digit limit
            # (ValueError) or nesting past the recursion limit. The element is a row error.
            return self._unbuildable(exc, eof)
        if end == len(self.text) and not eof and not isinstance(value, dict | list | str):
            return _INCOMPLETE  # a number or literal may go on in the next block
        self.pos = end
        return value

    def _unbuildable(self, exc: ValueError | RecursionError, eof: bool) -> Any:
        end = _element_end(self.text, self.pos)
        if end is None:
            if not eof and len(self.text) - self.pos < MAX_RECORD_CHARS:
                return _INCOMPLETE
            raise _not_closed()
        self.pos = end
        if isinstance(exc, RecursionError):
            return Unbuildable(f"The record is nested deeper than {_MAX_DEPTH} levels.")
        return Unbuildable("The record holds a number with too many digits.")

    def _skip_whitespace(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        self.pos = pos

    def _broken(self, reason: str) -> None:
        raise FileUnreadable(
            f"The JSON array is malformed at character {self.offset + self.pos + 1}: {reason}."
        )


_INCOMPLETE = object()
# About where the decoder's recursion gives up (the interpreter's recursion limit).
_MAX_DEPTH = 900
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SCALAR_END = re.compile(r"[,\]}\s]")


@dataclass(frozen=True, slots=True)
class Unbuildable:
    """An array element that is valid JSON but cannot be built (why, for its row error)."""

    reason: str


def _element_end(text: str, pos: int) -> int | None:
    """Where the JSON value starting at `pos` ends, found without recursion; None if the text
    ends first. Only called on values the decoder scanned (and found well-formed but
    unbuildable), so only brackets and strings need following."""
    depth = 0
    while pos < len(text):
        char = text[pos]
        if char == '"':
            match = _STRING.match(text, pos)
            if match is None:
                return None
            pos = match.end()
        elif char in "[{":
            depth += 1
            pos += 1
        elif char in "]}":
            depth -= 1
            pos += 1
        elif depth == 0:
            match = _SCALAR_END.search(text, pos)
            return match.start() if match else None
        else:
            pos += 1
        if depth == 0:
            return pos
    return None


def _not_closed() -> FileUnreadable:
    return FileUnreadable("The JSON array is not closed: the file ends inside it.")


async def _json_array_records(blocks: Blocks, skip: int) -> AsyncIterator[list[Record]]:
    decode = _utf8_decoder()
    array = _JsonArray()
    row = 0
    async for block in _with_end(blocks):
        array.feed(decode(block or b"", block is None))
        records: list[Record] = []
        for value in array.elements(eof=block is None):
            row += 1
            if row <= skip:
                continue
            if isinstance(value, dict):
                records.append(Record(row, value))
            elif isinstance(value, Unbuildable):
                records.append(Record(row, problem=_problem(value.reason)))
            else:
                records.append(Record(row, problem=_problem("Expected a JSON object.")))
        yield records
