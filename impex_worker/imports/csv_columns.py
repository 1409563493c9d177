"""CSV columns to customer records (API.md §4): a header of field names, nested fields by dotted
names, `|`-separated taxExemptions.

- `address.<field>` fills the record's one address (`addresses.<n>.<field>` fills address n);
- `attributeGroups.<group>.<name>` is attribute `<name>` of group `<group>`;
- any other dotted name nests objects (`optin_preferences.email.opt_in_active`);
- `true` / `false` (any case) in a boolean column become booleans, anything else is left for the
  schema to refuse; an empty cell means the field is absent (it never clears a stored value).

Columns the schema does not know are carried along and ignored by it, like unknown JSON fields.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

TAX_EXEMPTIONS_SEPARATOR = "|"
# The boolean fields of the customer schema, by path with list indexes and map keys as "*".
# (tests/unit/test_import_csv.py checks this list against shared.schemas.)
BOOLEAN_PATHS = frozenset(
    {
        ("active",),
        ("verified_email",),
        ("taxExempt",),
        ("accepts_marketing",),
        ("vipStatus",),
        ("addresses", "*", "defaultAddress"),
        ("optin_preferences", "*", "opt_in_active"),
    }
)
_WORDS = {"true": True, "false": False}
# Fields whose next step is a key of the field's own choosing.
_MAP_FIELDS = frozenset({"optin_preferences", "attributeGroups"})


class HeaderError(ValueError):
    """The header row cannot describe records (the file is unreadable)."""


Setter = Callable[[dict[str, Any], str], None]


def record_builder(header: Sequence[str]) -> Callable[[Sequence[str]], dict[str, Any]]:
    """A function turning one CSV row (cells in header order) into a nested record."""
    names = [name.strip() for name in header]
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise HeaderError(f"The CSV header names the column {name!r} twice.")
        seen.add(name)
    setters = [_setter(name) if name else None for name in names]

    def build(row: Sequence[str]) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for setter, value in zip(setters, row, strict=False):
            if setter is not None and value != "":
                setter(record, value)
        return record

    return build


def _setter(name: str) -> Setter:
    path = _path(name)
    if path == ["taxExemptions"]:
        return _tax_exemptions
    convert = _boolean if _pattern(path) in BOOLEAN_PATHS else _as_is
    if len(path) == 1:
        key = str(path[0])

        def set_field(record: dict[str, Any], value: str) -> None:
            record[key] = convert(value)

        return set_field

    def set_nested(record: dict[str, Any], value: str) -> None:
        _put(record, path, convert(value))

    return set_nested


def _path(name: str) -> list[str | int]:
    """A column name as steps into the record; ints index lists."""
    steps: list[str | int] = list(name.split("."))
    if steps[0] == "address" and len(steps) > 1:
        return ["addresses", 0, *steps[1:]]
    if steps[0] == "attributeGroups" and len(steps) > 2:
        return ["attributeGroups", steps[1], "attributes", ".".join(map(str, steps[2:]))]
    if steps[0] == "addresses" and len(steps) > 2 and str(steps[1]).isdigit():
        steps[1] = int(steps[1])
    return steps


def _pattern(path: list[str | int]) -> tuple[str, ...]:
    """The path with list indexes and map keys (opt-in channels, groups) as "*"."""
    generic = ["*" if isinstance(step, int) else step for step in path]
    if generic[0] in _MAP_FIELDS and len(generic) > 1:
        generic[1] = "*"
    return tuple(generic)


def _as_is(value: str) -> Any:
    return value


def _boolean(value: str) -> Any:
    return _WORDS.get(value.strip().lower(), value)


def _tax_exemptions(record: dict[str, Any], value: str) -> None:
    record["taxExemptions"] = [item for item in value.split(TAX_EXEMPTIONS_SEPARATOR) if item]


def _put(record: dict[str, Any], path: list[str | int], value: Any) -> None:
    """Set `value` at `path`, creating objects and list entries on the way. Where another
    column already put a plain value on the way, that value is kept (the schema judges it)."""
    node: Any = record
    for step, following in itertools.pairwise(path):
        if isinstance(step, int):
            while len(node) <= step:
                node.append({})
            child = node[step]
        else:
            child = node.setdefault(step, [] if isinstance(following, int) else {})
        if not isinstance(child, list if isinstance(following, int) else dict):
            return
        node = child
    last = path[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value
