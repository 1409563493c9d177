"""The streaming readers of the import formats, fed in pieces of every size."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import fields

from impex_worker.imports import csv_columns
from impex_worker.imports.csv_columns import BOOLEAN_PATHS, record_builder
from impex_worker.imports.formats import FileUnreadable, count_records, read_records
from shared.schemas import AddressSchema, CustomerSchema, OptinPreferenceSchema

BLOCK_SIZES = (1, 2, 5, 64, 1 << 20)


async def blocks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read(file_format: str, data: bytes, size: int, *, skip: int = 0) -> list[tuple]:
    found = []
    async for records in read_records(file_format, blocks(data, size), skip=skip):
        found.extend((r.row, r.data, r.problem) for r in records)
    return found


CSV = (
    "\ufeffcustomerRef,email,firstName,address.city,taxExemptions,attributeGroups.vip.level,"
    "optin_preferences.sms.opt_in_active,vipStatus\r\n"
    'C-1,a@example.com,"Smith, Ada ""the first""",London,A|B,gold,TRUE,yes\r\n'
    "\r\n"
    'C-2,b@example.com,"two\nlines",,,,,false\r\n'
    "C-3,c@example.com\r\n"
).encode()


async def test_deferred_csv_records_build_the_same_data_when_asked():
    """The worker reads with defer=True (records are built in its validation thread): a record
    then carries its cells until built() gives exactly what an eager read gives."""
    eager = await read("csv", CSV, 64)
    deferred = []
    async for records in read_records("csv", blocks(CSV, 64), defer=True):
        assert all(r.data is None for r in records if r.problem is None)
        deferred.extend((r.row, r.built(), r.problem) for r in records)
    assert deferred == eager and eager[0][1]["customerRef"] == "C-1"


@pytest.mark.parametrize("size", BLOCK_SIZES)
async def test_csv_records_are_nested_typed_and_numbered_whatever_the_block_size(size):
    """BOM dropped, quotes kept, blank lines skipped, dotted names nested, `|` split, booleans
    read, empty cells absent; a short row is a malformed record that still names itself."""
    records = await read("csv", CSV, size)
    assert records == [
        (1, {
            "customerRef": "C-1", "email": "a@example.com", "firstName": 'Smith, Ada "the first"',
            "addresses": [{"city": "London"}], "taxExemptions": ["A", "B"],
            "attributeGroups": {"vip": {"attributes": {"level": "gold"}}},
            "optin_preferences": {"sms": {"opt_in_active": True}}, "vipStatus": "yes",
        }, None),
        (2, {"customerRef": "C-2", "email": "b@example.com", "firstName": "two\nlines",
             "vipStatus": False}, None),
        (3, {"customerRef": "C-3", "email": "c@example.com"},
         {"_record": ["Expected 8 cells (as in the header), got 2."]}),
    ]  # fmt: skip


async def test_csv_resume_skips_records_not_lines():
    """Skipping counts records (a quoted newline does not make two)."""
    records = await read("csv", CSV, 3, skip=2)
    assert [row for row, _, _ in records] == [3]
    assert await count_records("csv", blocks(CSV, 4)) == 3


async def test_bad_quoting_is_a_row_error_and_reading_goes_on():
    data = b'email,firstName\na@example.com,"x"y\nb@example.com,ok\nc@example.com,"open\n'
    records = await read("csv", data, 3)
    assert [(row, problem is None) for row, _, problem in records] == [
        (1, False), (2, True), (3, False),
    ]  # fmt: skip
    assert "Malformed CSV" in records[0][2]["_record"][0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no header row"),
        (b"\n\n", "no header row"),
        (b"email\n\xc3\x28@example.com\n", "not UTF-8"),
        (b"email,email\n", "twice"),
    ],
)
async def test_unreadable_csv_files(data, message):
    with pytest.raises(FileUnreadable, match=message):
        await read("csv", data, 2)


@pytest.mark.parametrize("size", BLOCK_SIZES)
async def test_ndjson_lines_are_records_and_bad_lines_row_errors(size):
    data = (
        b'\xef\xbb\xbf{"email": "a@x.com"}\r\n\n{"email": "b@x.com"\n"text"\n'
        b'{"email": "\xc3\xa9@x"}'
    )
    records = await read("ndjson", data, size)
    assert records == [
        (1, {"email": "a@x.com"}, None),
        (2, None, {"_record": ["Not valid JSON (or not UTF-8)."]}),
        (3, None, {"_record": ["Expected a JSON object."]}),
        (4, {"email": "é@x"}, None),
    ]


@pytest.mark.parametrize("size", BLOCK_SIZES)
async def test_json_array_elements_are_read_one_by_one(size):
    data = ' \ufeff[{"email": "a@x.com", "n": 1.5e3}, 42 ,\n{"s": "],[\\"}"}, null]\n'.encode()
    data = data.replace(" \ufeff".encode(), "\ufeff ".encode())
    records = await read("json", data, size)
    assert records == [
        (1, {"email": "a@x.com", "n": 1500.0}, None),
        (2, None, {"_record": ["Expected a JSON object."]}),
        (3, {"s": '],["}'}, None),
        (4, None, {"_record": ["Expected a JSON object."]}),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b'{"email": "a@x.com"}', "not a JSON array"),
        (b'[{"a": 1}', "not closed"),
        (b'[{"a": 1},', "not closed"),
        (b'[{"a": 1} {"b": 2}]', "malformed at character 11"),
        (b'[{"a": 1}] [', "after the JSON array"),
        (b'[{"a": tru}]', "malformed"),
    ],
)
async def test_unreadable_json_arrays(data, message):
    with pytest.raises(FileUnreadable, match=message):
        await read("json", data, 3)


async def test_empty_json_array_and_empty_ndjson_hold_no_records():
    assert await read("json", b" [ ] ", 1) == []
    assert await read("ndjson", b"", 1) == []


def _boolean_paths(schema, prefix=()) -> set[tuple[str, ...]]:
    found = set()
    for name, field in schema._declared_fields.items():
        path = (*prefix, name)
        if isinstance(field, fields.Nested):
            found |= _boolean_paths(field.schema, path)
        elif isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
            found |= _boolean_paths(field.inner.schema, (*path, "*"))
        elif type(field).__name__ in ("_Bool", "_BoolOrWord"):
            found.add(path)
    return found


def test_csv_boolean_columns_are_the_schemas_boolean_fields():
    """The CSV reader turns true/false into booleans exactly where the schema wants one."""
    declared = _boolean_paths(CustomerSchema())
    channels = {("optin_preferences", "*", "opt_in_active")}
    declared = {p for p in declared if p[0] != "optin_preferences"} | channels
    assert declared == set(BOOLEAN_PATHS)
    assert "defaultAddress" in AddressSchema._declared_fields
    assert "opt_in_active" in OptinPreferenceSchema._declared_fields


def test_csv_columns_build_several_addresses_and_keep_unknown_columns():
    build = record_builder(
        ["addresses.1.city", "address.city", "notAField", "address.defaultAddress"]
    )
    assert build(["Paris", "London", "x", "false"]) == {
        "addresses": [{"city": "London", "defaultAddress": False}, {"city": "Paris"}],
        "notAField": "x",
    }


def _built_column_by_column(header: list[str], row: list[str]) -> dict:
    """Every column set in header order, each by the general path walk: what a record is."""
    record: dict = {}
    for name, value in zip(header, row, strict=False):
        name = name.strip()
        if not name or value == "":
            continue
        path = csv_columns._path(name)
        if path == ["taxExemptions"]:
            csv_columns._tax_exemptions(record, value)
            continue
        boolean = csv_columns._pattern(path) in BOOLEAN_PATHS
        converted = csv_columns._boolean(value) if boolean else value
        if len(path) == 1:
            record[path[0]] = converted
        else:
            csv_columns._put(record, path, converted)
    return record


_COLUMNS = st.sampled_from([
    "email", "customerRef", "active", "vipStatus", "taxExemptions", "addresses", "address",
    "address.city", "address.defaultAddress", "addresses.0.city", "addresses.1.postcode",
    "addresses.x.city", "attributeGroups", "attributeGroups.g", "attributeGroups.g.a",
    "attributeGroups.g.a.b", "optin_preferences", "optin_preferences.email",
    "optin_preferences.email.opt_in_active", "a.b", "a", "a.b.c", " city ", "",
])  # fmt: skip


@given(
    st.lists(_COLUMNS, min_size=1, max_size=8, unique_by=str.strip).flatmap(
        lambda header: st.tuples(
            st.just(header),
            st.lists(
                st.sampled_from(["", "x", "TRUE", "false", "a|b", "|", " 1 "]),
                min_size=max(0, len(header) - 2),
                max_size=len(header) + 2,
            ),
        )
    )
)
@settings(max_examples=500, deadline=None)
def test_csv_records_are_those_of_setting_every_column_in_header_order(header_and_row):
    """Plain columns are picked together, the others set one by one: the same records (a plain
    value wins over a nested column on its key, in either order), rows short or long."""
    header, row = header_and_row
    assert record_builder(header)(row) == _built_column_by_column(header, row)


@pytest.mark.parametrize("size", [1_000, 7_000, 1 << 20])
async def test_json_elements_python_cannot_build_are_row_errors(size):
    """Well-formed JSON that the decoder refuses to build (an integer of 5,000 digits, nesting
    2,000 deep) is that element's row error; the elements after it are read as usual, and
    the count agrees (it reads the same way)."""
    deep = "[" * 2_000 + '"x"' + "]" * 2_000
    data = (
        f'[{{"email": "a@x.com"}}, {{"n": {"9" * 5_000}}}, {{"deep": {deep}}}, {deep},'
        f' {{"email": "b@x.com", "s": "]}}\\""}}]'
    ).encode()
    records = await read("json", data, size)
    assert records == [
        (1, {"email": "a@x.com"}, None),
        (2, None, {"_record": ["The record holds a number with too many digits."]}),
        (3, None, {"_record": ["The record is nested deeper than 900 levels."]}),
        (4, None, {"_record": ["The record is nested deeper than 900 levels."]}),
        (5, {"email": "b@x.com", "s": ']}"'}, None),
    ]
    assert await count_records("json", blocks(data, size)) == 5


def test_csv_address_indexes_stop_at_the_apis_cap():
    """addresses.49 is the 50th address; addresses.50 and addresses.2000000000 make the header
    unreadable at once (no list of that size is built)."""
    build = record_builder(["email", "addresses.49.city"])
    assert len(build(["a@x.com", "Leeds"])["addresses"]) == 50
    for column in ("addresses.50.city", "addresses.2000000000.city", "addresses.0007.city"):
        with pytest.raises(csv_columns.HeaderError, match="at most 50 addresses"):
            record_builder(["email", column])


async def test_a_csv_header_naming_address_two_billion_makes_the_file_unreadable():
    data = b"email,addresses.2000000000.city\na@x.com,Leeds\n"
    with pytest.raises(FileUnreadable, match=r"addresses.2000000000.city.*at most 50 addresses"):
        await read("csv", data, 1 << 20)
