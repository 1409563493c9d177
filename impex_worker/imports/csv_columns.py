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
import operator
from collections.abc import Callable, Sequence
from typing import Any

from shared.schemas.customer import MAX_ADDRESSES

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
    """A function turning one CSV row (cells in header order) into a nested record.

    Plain top-level columns are picked in one go; the others (booleans, taxExemptions, nested
    names) go through their setters in header order. A plain value always wins over a nested
    column on the same key whichever comes first (`_put` never replaces a plain value), so the
    records are those of setting every column in header order; only their key order differs,
    which nothing reads (the schema loads fields in its own order)."""
    names = [name.strip() for name in header]
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise HeaderError(f"The CSV header names the column {name!r} twice.")
        seen.add(name)
    plain: list[tuple[int, str]] = []
    others: list[tuple[int, Setter]] = []
    for index, name in enumerate(names):
        if not name:
            continue
        path = _path(name)
        if len(path) == 1 and path != ["taxExemptions"] and _pattern(path) not in BOOLEAN_PATHS:
            plain.append((index, name))
        else:
            others.append((index, _setter(name)))
    width = len(names)
    plain_keys = [key for _, key in plain]
    # itemgetter of one index returns the cell itself, not a tuple.
    pick = operator.itemgetter(*[index for index, _ in plain]) if len(plain) > 1 else None

    def build(row: Sequence[str]) -> dict[str, Any]:
        count = len(row)
        if pick is not None and count >= width:
            cells = zip(plain_keys, pick(row), strict=True)
            record = {key: value for key, value in cells if value != ""}
        else:
            record = {key: row[i] for i, key in plain if i < count and row[i] != ""}
        for index, setter in others:
            if index < count and (value := row[index]) != "":
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
    if len(path) == 3 and isinstance(path[1], int) and isinstance(path[2], str):
        return _item_setter(str(path[0]), path[1], path[2], convert)

    def set_nested(record: dict[str, Any], value: str) -> None:
        _put(record, path, convert(value))

    return set_nested


def _item_setter(key: str, position: int, field: str, convert: Callable[[str], Any]) -> Setter:
    """`_put` for the path [key, position, field] (`address.city`), without the walk."""

    def set_item_field(record: dict[str, Any], value: str) -> None:
        items = record.setdefault(key, [])
        if not isinstance(items, list):
            return
        while len(items) <= position:
            items.append({})
        item = items[position]
        if isinstance(item, dict):
            item[field] = convert(value)

    return set_item_field


def _path(name: str) -> list[str | int]:
    """A column name as steps into the record; ints index lists."""
    steps: list[str | int] = list(name.split("."))
    if steps[0] == "address" and len(steps) > 1:
        return ["addresses", 0, *steps[1:]]
    if steps[0] == "attributeGroups" and len(steps) > 2:
        return ["attributeGroups", steps[1], "attributes", ".".join(map(str, steps[2:]))]
    if steps[0] == "addresses" and len(steps) > 2 and str(steps[1]).isdigit():
        # Checked on the digits: the index sizes the list every row builds (a header naming
        # address 2,000,000,000 would build that many dicts per row).
        if len(str(steps[1])) > 3 or int(steps[1]) >= MAX_ADDRESSES:
            raise HeaderError(
                f"The CSV column {name[:80]!r} names address {str(steps[1])[:20]}: a customer "
                f"has at most {MAX_ADDRESSES} addresses (addresses.0 to "
                f"addresses.{MAX_ADDRESSES - 1})."
            )
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
