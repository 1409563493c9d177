"""The pieces every service's part of the OpenAPI document is made of: the base of the schemas
declared for the document, the error shapes the suite answers (problem+json, RFC 6749 errors),
and what the shared request schemas' own field classes mean in JSON Schema."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from shared.schemas import patterns


def described(text: str, **extra: Any) -> dict[str, Any]:
    return {"description": text, **extra}


def timestamp(text: str, *, nullable: bool = False) -> fields.String:
    return fields.String(
        required=not nullable,
        allow_none=nullable,
        metadata=described(
            f"{text} ISO 8601 UTC with milliseconds.",
            format="date-time",
            example="2023-05-19T03:48:22.075Z",
        ),
    )


def nullable_text(text: str = "") -> fields.String:
    return fields.String(allow_none=True, metadata=described(text) if text else {})


class DocSchema(Schema):
    """Base of the schemas declared here: other members are allowed (and ignored by readers),
    like everywhere in this API."""

    class Meta:
        unknown = EXCLUDE


class Page(DocSchema):
    page = fields.Integer(required=True, metadata=described("From 0."))
    pageSize = fields.Integer(required=True)
    total = fields.Integer(required=True)


# ---------------------------------------------------------------------------------------------
# Errors


class Problem(DocSchema):
    """RFC 9457 problem details."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata=described("Messages by field path, e.g. addresses.0.countryCode."),
    )
    requestId = fields.String()


class OAuthErrorOut(DocSchema):
    """RFC 6749 §5.2 error of the OAuth endpoints."""

    error = fields.String(required=True)
    error_description = fields.String()


# ---------------------------------------------------------------------------------------------
# What the shared schema's own field classes mean in JSON Schema. They are matched by class name
# along the MRO, so the shared module keeps its fields private and unaware of OpenAPI.


def custom_field_properties(_converter: Any, field: fields.Field, ret: dict, **_: Any) -> dict:
    """apispec attribute function: types, lengths and formats of the shared schema's fields."""
    names = {cls.__name__ for cls in type(field).__mro__}
    nullable = [None] if field.allow_none else []
    extra: dict[str, Any] = {}
    if "_BoolOrWord" in names:
        extra["enum"] = [True, False, "true", "false", *nullable]
    elif "_Bool" in names:
        extra["type"] = ["boolean", "null"] if field.allow_none else "boolean"
    if "_TextOrNumber" in names:
        extra["type"] = ["string", "number", *(["null"] if field.allow_none else [])]
    if "_Email" in names:
        extra["format"] = "email"
    if "_CountryCode" in names:
        extra["pattern"] = patterns.COUNTRY_CODE
        extra["description"] = "ISO 3166-1 alpha-2 country code, any case (stored upper case)."
    if "_DayMonthYear" in names:
        extra["pattern"] = patterns.DAY_MONTH_YEAR
        extra["description"] = (
            "A real calendar date as dd-mm-yyyy, not in the future (a rule OpenAPI cannot "
            "state: the pattern checks the calendar only)."
        )
    if "_Text" in names and "pattern" not in extra and "format" not in extra:
        extra["pattern"] = patterns.NO_NUL
    max_length = getattr(field, "max_length", None)
    if isinstance(max_length, int) and "maxLength" not in ret:
        extra["maxLength"] = max_length
    min_length = getattr(field, "min_length", None)
    if isinstance(min_length, int) and min_length > 0 and "minLength" not in ret:
        extra["minLength"] = min_length
    max_items = getattr(field, "max_items", None)
    if isinstance(max_items, int):
        extra["maxItems"] = max_items
    max_entries = getattr(field, "max_entries", None)
    if isinstance(max_entries, int):
        extra["maxProperties"] = max_entries
    key_field = getattr(field, "key_field", None)
    if isinstance(field, fields.Dict) and key_field is not None:
        key_min = getattr(key_field, "min_length", 0)
        key_max = getattr(key_field, "max_length", None)
        names_schema = {
            **({"minLength": key_min} if key_min else {}),
            **({"maxLength": key_max} if isinstance(key_max, int) else {}),
        }
        if names_schema:
            extra["propertyNames"] = names_schema
    return extra
