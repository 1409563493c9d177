"""A precompiled twin of the customer schema, for bulk imports: the same declared fields checked
by plain Python, without marshmallow's per-field machinery (about 15x faster on a typical record).

It only ever *accepts*. `load_plain_customer(data)` returns exactly what `load_customer(data)`
returns (same keys, same order, same values), or None when the record is not plainly valid:
invalid, or unusual enough that the fast checks leave it to the schema (an internationalised
email address, a tuple where a list is expected, ...). The caller then asks `load_customer`,
which decides and words the errors, so the marshmallow schema stays the one definition of a valid
customer. tests/unit/test_customer_schema_compiled.py checks that over generated records.

The twin is built from the schema's declared fields. Plain strings and emails are checked
inline; every other kind of value goes through that field's own `_deserialize` (the schema's
code, minus marshmallow's dispatch). A field of a kind the builder does not know makes the twin
refuse every record (correct, only slow) rather than guess; a test keeps that from happening
unnoticed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import email_validator
from email_validator.rfc_constants import (
    DOMAIN_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    LOCAL_PART_MAX_LENGTH,
)
from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing

from shared.schemas.customer import (
    _CUSTOMER_SCHEMA,
    _DMY,
    _EARLIEST_OFFSET,
    ALPHA2_CODES,
    _Bool,
    _BoundedList,
    _CountryCode,
    _DayMonthYear,
    _Email,
    _NamedMap,
    _Text,
)

Check = Callable[[Any], Any]


class _Reject(Exception):
    """Not plainly valid: the schema decides."""


class Unsupported(TypeError):
    """The schema declares something the twin cannot reproduce exactly."""


# ---------------------------------------------------------------------------------- emails

# RFC 5322 dot-atom local part in ASCII, then a dotted ASCII host name whose last label ends with
# a letter. Every address this matches (and that passes `plain_email`'s checks) is one
# email_validator accepts unchanged whatever its options; anything else goes to email_validator.
_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_LAST_LABEL = "(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z]"
_PLAIN_EMAIL = re.compile(
    "[" + _ATEXT + "]+(?:\\.[" + _ATEXT + "]+)*@((?:" + _LABEL + "\\.)+" + _LAST_LABEL + ")"
)
_SPECIAL_DOMAINS = frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES)
_SPECIAL_SUFFIXES = tuple("." + name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)


def plain_email(value: str) -> bool:
    """Whether `value` is an address email_validator certainly accepts as it is. False only
    means "ask email_validator": "--" (Punycode or reserved labels) and long local parts are
    left to it, as is anything outside ASCII."""
    match = _PLAIN_EMAIL.fullmatch(value)
    if match is None:
        return False
    domain = match[1]
    if (
        len(value) > EMAIL_MAX_LENGTH
        or len(domain) > DOMAIN_MAX_LENGTH
        or len(value) - len(domain) - 1 > LOCAL_PART_MAX_LENGTH
        or "--" in domain
    ):
        return False
    lower = domain.lower()
    return lower not in _SPECIAL_DOMAINS and not lower.endswith(_SPECIAL_SUFFIXES)


# ---------------------------------------------------------------------------------- fields
#
# Each builder returns `Field.deserialize` for a present value of its kind: null allowed or not,
# then the kind's own checks. Null is tested only once the fast test of the kind failed.


def _null(field: fields.Field, value: Any) -> None:
    """A value the kind's fast test refused: None where the field allows it, else a reject."""
    if value is None and field.allow_none:
        return None
    raise _Reject


def _text(field: _Text) -> Check:
    """`_Text._deserialize`, inline: the most common field by far."""
    low, high = field.min_length, field.max_length

    def check(value: Any) -> str | None:
        if type(value) is not str:
            return _null(field, value)
        if not low <= len(value) <= high or "\x00" in value:
            raise _Reject
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Reject from None
        return value

    return check


def _email(field: _Email) -> Check:
    """`_Email._deserialize`, with email_validator's verdict taken from `plain_email` when it
    can be; other addresses go through the field itself."""
    text, exact = _text(field), _exact(field)

    def check(value: Any) -> str | None:
        if type(value) is not str:
            return _null(field, value)
        stripped = text(value.strip())
        if plain_email(stripped):
            return stripped
        return exact(value)

    return check


def _country_code(field: _CountryCode) -> Check:
    """`_CountryCode._deserialize`, inline."""
    text = _text(field)

    def check(value: Any) -> str | None:
        if type(value) is not str:
            return _null(field, value)
        code = text(value).strip().upper()
        if code not in ALPHA2_CODES:
            raise _Reject
        return code

    return check


def _day_month_year(field: _DayMonthYear) -> Check:
    """`_DayMonthYear._deserialize`, inline: a match of its pattern is short ASCII text, so of
    the text checks only the length ones can fail; "today" is cached until it changes. The
    pattern takes zero-padded dates only, so the value itself is what the schema returns."""
    low, high = field.min_length, field.max_length

    def check(value: Any) -> str | None:
        if type(value) is not str:
            return _null(field, value)
        match = _DMY.fullmatch(value)
        if match is None or not low <= len(value) <= high:
            raise _Reject
        day, month, year = match.groups()
        try:
            parsed = date(int(year), int(month), int(day))
        except ValueError:
            raise _Reject from None
        if parsed > _latest_date():
            raise _Reject
        return value

    return check


class _LatestDate:
    """The latest date that is not in the future (`_DayMonthYear`), recomputed only when it
    changes: at midnight in UTC+14."""

    def __init__(self) -> None:
        self._date = date.min
        self._until = 0.0

    def __call__(self) -> date:
        if time.time() >= self._until:
            earliest = datetime.now(UTC) + _EARLIEST_OFFSET
            self._date = earliest.date()
            midnight = datetime.combine(self._date, datetime.min.time(), UTC)
            self._until = (midnight + timedelta(days=1) - _EARLIEST_OFFSET).timestamp()
        return self._date


_latest_date = _LatestDate()


def _boolean(field: _Bool) -> Check:
    def check(value: Any) -> bool | None:
        if value is True or value is False:
            return value
        return _null(field, value)

    return check


def _exact(field: fields.Field) -> Check:
    """The field's own `_deserialize` (the schema's code for this kind of value)."""
    deserialize = field._deserialize

    def check(value: Any) -> Any:
        if value is None:
            return _null(field, value)
        try:
            return deserialize(value, None, None)
        except ValidationError:
            raise _Reject from None

    return check


def _list(field: fields.List) -> Check:
    item = _field(field.inner)
    limit = field.max_items if type(field) is _BoundedList else None

    def check(value: Any) -> list[Any] | None:
        # marshmallow takes any non-string collection; JSON and CSV only make lists.
        if type(value) is not list:
            return _null(field, value)
        if limit is not None and len(value) > limit:
            raise _Reject
        return [item(each) for each in value]

    return check


def _named_map(field: _NamedMap) -> Check:
    assert field.key_field is not None and field.value_field is not None
    key, item = _field(field.key_field), _field(field.value_field)
    limit = field.max_entries

    def check(value: Any) -> dict[str, Any] | None:
        if type(value) is not dict:
            return _null(field, value)
        if limit is not None and len(value) > limit:
            raise _Reject
        return {key(name): item(each) for name, each in value.items()}

    return check


def _nested(field: fields.Nested) -> Check:
    if field.many or field.only is not None or field.exclude or field.unknown is not None:
        raise Unsupported(f"Nested field {field.name!r} with options")
    load = _schema(field.schema)

    def check(value: Any) -> dict[str, Any] | None:
        if value is None:
            return _null(field, value)
        return load(value)

    return check


_BUILDERS: dict[type, Callable[[Any], Check]] = {
    _Text: _text,
    _Email: _email,
    _CountryCode: _country_code,
    _DayMonthYear: _day_month_year,
    _Bool: _boolean,
    fields.List: _list,
    _BoundedList: _list,
    _NamedMap: _named_map,
    fields.Nested: _nested,
}


def _field(field: fields.Field) -> Check:
    """`Field.deserialize` for a present value. Exact classes only: a subclass may change what
    its parent accepts."""
    builder = _BUILDERS.get(type(field))
    if builder is None:
        raise Unsupported(f"field {field.name!r} of kind {type(field).__name__}")
    if field.pre_load or field.post_load or field.load_default is not missing:
        raise Unsupported(f"field {field.name!r} with processors or a default")
    check = builder(field)
    if not field.validators:
        return check
    validate = field._validate

    def validated(value: Any) -> Any:
        loaded = check(value)
        if loaded is not None:
            try:
                validate(loaded)
            except ValidationError:
                raise _Reject from None
        return loaded

    return validated


def _schema(schema: Schema) -> Callable[[Any], dict[str, Any]]:
    """`Schema.load` without `partial`: declared fields in declaration order, unknown dropped."""
    if schema.many or schema.unknown != EXCLUDE or any(schema._hooks.values()):
        raise Unsupported(f"{type(schema).__name__} with hooks or options")
    entries = []
    for name, field in schema.load_fields.items():
        if field.data_key is not None or field.attribute is not None or "." in name:
            raise Unsupported(f"field {name!r} renamed")
        entries.append((name, field.required, _field(field)))

    def load(data: Any) -> dict[str, Any]:
        if type(data) is not dict:
            raise _Reject
        result: dict[str, Any] = {}
        for name, required, check in entries:
            value = data.get(name, missing)
            if value is missing:
                if required:
                    raise _Reject
                continue
            result[name] = check(value)
        return result

    return load


def compile_schema(schema: Schema) -> Callable[[Any], dict[str, Any] | None]:
    """`schema.load(data)` when that is plainly valid, else None. Raises Unsupported."""
    load = _schema(schema)

    def load_plain(data: Any) -> dict[str, Any] | None:
        try:
            return load(data)
        except Exception:  # _Reject, or anything odd: either way the schema decides
            return None

    return load_plain


load_plain_customer = compile_schema(_CUSTOMER_SCHEMA)
