"""The one definition of a valid customer request (API.md §3), shared by the customer API
(create, validate, update) and the bulk import worker.

Only writable fields are declared. Unknown and read-only fields (`id`, `createdDate`,
`defaultAddress` at customer level, computed figures, opt-in timestamps, address `customerId`, ...)
are not, so `unknown = EXCLUDE` drops them unvalidated: a client may PUT back what a GET returned.

Writable fields take exactly the JSON type API.md and the seed give them (§1 "validated strictly"):
booleans only as `true`/`false`, strings only as strings (`spendToNextTier` is a string in the
seed, so `12.5` is a type error rather than a guess at its text), dates only as `dd-mm-yyyy`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sized
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import pycountry
from email_validator import EmailNotValidError, validate_email
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

MAX_STRING_LENGTH = 255
# email-validator's limit (RFC 5321's 256-octet path minus the angle brackets).
MAX_EMAIL_LENGTH = 254
MAX_ADDRESSES = 50
# Caps on what a customer may hold (issue 10.4): a PUT merges groups into the stored ones, so
# without them a profile grows with every update, and every read of it costs more.
MAX_ATTRIBUTE_GROUPS = 50
MAX_ATTRIBUTES_PER_GROUP = 100
# The stored profile (every field but the seven with columns of their own) as compact JSON.
MAX_PROFILE_BYTES = 256 * 1024
CUSTOMER_STATES = ("disabled", "invited", "enabled", "declined")
MARKETING_OPTIN_LEVELS = ("single_opt_in", "confirmed_opt_in", "unknown")

# Built once: a set lookup per row instead of a pycountry query per row (bulk imports).
ALPHA2_CODES = frozenset(country.alpha_2 for country in pycountry.countries)
# Exactly two, two and four ASCII digits (`\d` would also take other scripts' digits).
_DMY = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4})")
# A date that is already "today" somewhere on Earth (UTC+14) is not in the future for its sender.
_EARLIEST_OFFSET = timedelta(hours=14)


class CustomerValidationError(ValueError):
    """A customer request is invalid; `errors` maps dotted field paths to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("Invalid customer: " + ", ".join(errors))
        self.errors = errors


# ---------------------------------------------------------------------------------------------
# Fields


class _Text(fields.String):
    """A string of bounded length that PostgreSQL can store."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "Not a valid string.",
        "too_long": "Longer than maximum length {max}.",
        "too_short": "Shorter than minimum length {min}.",
        # NUL and lone surrogates pass JSON parsing but make PostgreSQL (text and jsonb) fail.
        "unstorable": "Must not contain NUL characters or unpaired surrogates.",
    }

    def __init__(
        self, *, min_length: int = 0, max_length: int = MAX_STRING_LENGTH, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.min_length = min_length
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return self._checked(value)

    def _checked(self, value: str) -> str:
        if len(value) > self.max_length:
            raise self.make_error("too_long", max=self.max_length)
        if len(value) < self.min_length:
            raise self.make_error("too_short", min=self.min_length)
        if "\x00" in value:
            raise self.make_error("unstorable")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise self.make_error("unstorable") from None
        return value


class _Email(_Text):
    """An email address, checked for syntax only and kept as given (minus outer whitespace);
    at most MAX_EMAIL_LENGTH characters, as the validator allows no more."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid_email": "Not a valid email address."
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=MAX_EMAIL_LENGTH, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        value = self._checked(value.strip())
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError:
            raise self.make_error("invalid_email") from None
        return value


class _CountryCode(_Text):
    """ISO 3166-1 alpha-2 in any case, stored upper case."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "unknown_country": "Not a valid ISO 3166-1 alpha-2 country code."
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        code = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        if code not in ALPHA2_CODES:
            raise self.make_error("unknown_country")
        return code


class _DayMonthYear(_Text):
    """A real, past-or-present calendar date as `dd-mm-yyyy`, zero-padded as given: `5-1-1985`
    is refused rather than rewritten, so what is stored is always what the client sent."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "format": "Must be a date in dd-mm-yyyy format.",
        "not_a_date": "Not a real calendar date.",
        "future": "Must not be in the future.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        match = _DMY.fullmatch(super()._deserialize(value, attr, data, **kwargs))
        if match is None:
            raise self.make_error("format")
        day, month, year = (int(part) for part in match.groups())
        try:
            parsed = date(year, month, day)
        except ValueError:
            raise self.make_error("not_a_date") from None
        if parsed > (datetime.now(UTC) + _EARLIEST_OFFSET).date():
            raise self.make_error("future")
        return match[0]


class _Bool(fields.Field):
    """JSON true/false only: marshmallow's Boolean would also take 1, "yes", "on"..."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "Not a valid boolean."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if value is True or value is False:
            return value
        raise self.make_error("invalid")


class _BoundedList(fields.List):
    """A list with at most `max_items` entries, counted before any entry is validated."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "too_many": "At most {max} items are allowed."
    }

    def __init__(self, inner: fields.Field, *, max_items: int, **kwargs: Any) -> None:
        super().__init__(inner, **kwargs)
        self.max_items = max_items

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        sized = isinstance(value, Sized) and not isinstance(value, str | Mapping)
        if sized and len(value) > self.max_items:
            raise self.make_error("too_many", max=self.max_items)
        return super()._deserialize(value, attr, data, **kwargs)


class _NamedMap(fields.Dict):
    """A dict whose value errors sit under the key itself (`attributeGroups.g1.attributes.x`),
    not under marshmallow's `{"g1": {"value": ...}}`; key errors go to the map's own path.
    At most `max_entries` entries (when given), counted before any is validated."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "too_many": "At most {max} entries are allowed."
    }

    def __init__(self, *, max_entries: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_entries = max_entries

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        if self.max_entries is not None and len(value) > self.max_entries:
            raise self.make_error("too_many", max=self.max_entries)
        # Both are always given in this module; the assert only narrows the types.
        assert self.key_field is not None and self.value_field is not None
        result: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        key_errors: list[str] = []
        for key, item in value.items():
            try:
                name = self.key_field.deserialize(key, **kwargs)
            except ValidationError as error:
                key_errors.extend(m for m in _messages(error) if m not in key_errors)
                continue
            try:
                result[name] = self.value_field.deserialize(item, **kwargs)
            except ValidationError as error:
                errors[name] = error.messages
        if key_errors:
            errors["_schema"] = key_errors
        if errors:
            raise ValidationError(errors)
        return result


def _messages(error: ValidationError) -> list[str]:
    messages = error.messages
    return [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]


def _text(**kwargs: Any) -> _Text:
    """An optional string: `null` is allowed and means "clear" on update."""
    return _Text(allow_none=True, **kwargs)


def _identifier() -> _Text:
    """An optional identifier (customerRef, alternateCustomerRef): unique per tenant and a path
    segment of its own read endpoint, so "" would be unreachable yet block every other "" (409).
    null still clears it."""
    return _Text(allow_none=True, min_length=1, error_messages={"too_short": "Must not be empty."})


def email_field(**kwargs: Any) -> _Email:
    """An email field as customers have (for other schemas naming a customer by email)."""
    return _Email(**kwargs)


def _flag() -> _Bool:
    return _Bool(allow_none=True)


# ---------------------------------------------------------------------------------------------
# Schemas


class _TolerantSchema(Schema):
    class Meta:
        unknown = EXCLUDE


class AddressSchema(_TolerantSchema):
    """A customer address; `id` lets a client keep an existing address's id.

    Unlike the read-only `customerId` (dropped unvalidated, whatever it holds), `id` is input:
    in a PUT or an import it names which stored address this one is (API.md §3, ids stable
    across updates). So it is validated like any writable string: a GET only ever returns string
    ids, and a number names no address, so it is a 400 rather than silently a new address.
    """

    id = _text()
    addressRef = _text()
    addressName = _text()
    address1 = _text()
    address2 = _text()
    city = _text()
    company = _text()
    country = _text()
    countryCode = _CountryCode(allow_none=True)
    province = _text()
    provinceCode = _text()
    postcode = _text()
    phone = _text()
    email = _Email(allow_none=True)
    firstName = _text()
    lastName = _text()
    name = _text()
    defaultAddress = _flag()


class OptinPreferenceSchema(_TolerantSchema):
    """One channel's opt-in; its timestamps are the server's, so they are not declared."""

    opt_in_active = _flag()


class OptinPreferencesSchema(_TolerantSchema):
    email = fields.Nested(OptinPreferenceSchema, allow_none=True)
    sms = fields.Nested(OptinPreferenceSchema, allow_none=True)


class AttributeGroupSchema(_TolerantSchema):
    attributes = _NamedMap(
        keys=_Text(
            error_messages={
                "invalid": "Attribute names must be strings.",
                "too_long": "Attribute names must be at most {max} characters long.",
                "unstorable": "Attribute names must not contain NUL or unpaired surrogates.",
            }
        ),
        values=_Text(),
        max_entries=MAX_ATTRIBUTES_PER_GROUP,
        allow_none=True,
        error_messages={"too_many": "At most {max} attributes are allowed in a group."},
    )
    description = _text()


class CustomerSchema(_TolerantSchema):
    """The writable fields of a customer request, named as in the API."""

    customerRef = _identifier()
    alternateCustomerRef = _identifier()
    # Already never empty: "" (or blanks, stripped) is not a valid address.
    email = _Email(required=True, allow_none=False)
    firstName = _text()
    lastName = _text()
    dob = _DayMonthYear(allow_none=True)
    memberSince = _DayMonthYear(allow_none=True)
    mobile = _text()
    phone = _text()
    customer_state = _text(validate=validate.OneOf(CUSTOMER_STATES))
    active = _flag()
    verified_email = _flag()
    taxExempt = _flag()
    taxExemptions = fields.List(_Text(), allow_none=True)
    location = _text()
    vipStatus = _flag()
    loyaltyTier = _text()
    spendToNextTier = _text()
    joinedStoreId = _text()
    accepts_marketing = _flag()
    marketing_optin_level = _text(validate=validate.OneOf(MARKETING_OPTIN_LEVELS))
    optin_preferences = fields.Nested(OptinPreferencesSchema, allow_none=True)
    attributeGroups = _NamedMap(
        keys=_Text(
            min_length=1,
            error_messages={
                "invalid": "Group names must be strings.",
                "too_long": "Group names must be at most {max} characters long.",
                "too_short": "Group names must not be empty.",
                "unstorable": "Group names must not contain NUL or unpaired surrogates.",
            },
        ),
        # A null group means "remove that group" on update.
        values=fields.Nested(AttributeGroupSchema, allow_none=True),
        max_entries=MAX_ATTRIBUTE_GROUPS,
        allow_none=True,
        error_messages={"too_many": "At most {max} attribute groups are allowed."},
        metadata={
            "description": f"At most {MAX_ATTRIBUTE_GROUPS} groups, also once an update has "
            f"been merged into the stored ones; the stored profile (every field but the "
            f"identifiers, names and phones) is at most {MAX_PROFILE_BYTES} bytes as JSON."
        },
    )
    addresses = _BoundedList(
        fields.Nested(AddressSchema),
        max_items=MAX_ADDRESSES,
        allow_none=True,
        error_messages={"too_many": "At most {max} addresses are allowed."},
    )


# Schemas are stateless during load, so one instance serves every request and import row.
_CUSTOMER_SCHEMA = CustomerSchema()
_ADDRESS_SCHEMA = AddressSchema()


# ---------------------------------------------------------------------------------------------
# Public functions


def flatten_errors(messages: Any) -> dict[str, list[str]]:
    """Marshmallow's nested error messages as `{"addresses.0.countryCode": [...]}`.

    A schema-level (`_schema`) message belongs to the object it is about, so it takes that
    object's path; only at the top level does it stay `_schema`.
    """
    flat: dict[str, list[str]] = {}
    _flatten(messages, "", flat)
    return flat


def _flatten(messages: Any, path: str, flat: dict[str, list[str]]) -> None:
    if isinstance(messages, Mapping):
        for key, nested in messages.items():
            if key == "_schema":
                _flatten(nested, path, flat)
            else:
                _flatten(nested, f"{path}.{key}" if path else str(key), flat)
    elif isinstance(messages, list | tuple):
        for message in messages:
            if isinstance(message, Mapping | list | tuple):
                _flatten(message, path, flat)
            else:
                flat.setdefault(path or "_schema", []).append(str(message))
    else:
        flat.setdefault(path or "_schema", []).append(str(messages))


def load_customer(data: object, *, partial: bool = False) -> dict[str, Any]:
    """Validate a customer create (`partial=False`: email required) or update (`partial=True`).

    Returns only the writable fields present in `data` (null kept as None), by API name.
    Raises CustomerValidationError naming every invalid field by dotted path.
    """
    try:
        return _CUSTOMER_SCHEMA.load(data, partial=partial)
    except ValidationError as error:
        raise CustomerValidationError(flatten_errors(error.messages)) from None


def load_address(data: object) -> dict[str, Any]:
    """Validate one address (e.g. the body of `POST /customers/{id}/address`)."""
    try:
        return _ADDRESS_SCHEMA.load(data)
    except ValidationError as error:
        raise CustomerValidationError(flatten_errors(error.messages)) from None
