"""The marshmallow schemas the OpenAPI document is generated from.

Request bodies use the real schemas of `shared.schemas` (the ones the API and the import worker
validate with). Responses, notes, batches and the OAuth bodies have no marshmallow schema in the
services (they are rendered from records), so they are declared here, next to the document, in
the shapes API.md fixes; response schemas subclass the request schemas where the fields match.
"""

from __future__ import annotations

import copy
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from customer_service.imports.inputs import MAX_BATCH_REF_LENGTH
from customer_service.orders import facts
from customer_service.shoppers.rules import RETAILER_OWNED_FIELDS
from customer_service.v1 import translate as v1_translate
from shared.authz import ALL_SCOPES
from shared.schemas import (
    CUSTOMER_STATES,
    MARKETING_OPTIN_LEVELS,
    MAX_STRING_LENGTH,
    AddressSchema,
    AttributeGroupSchema,
    CustomerSchema,
    OptinPreferenceSchema,
    OptinPreferencesSchema,
    patterns,
)
from shared.schemas.shoppers import (
    AdminPasswordSchema,
    LoginSchema,
    OtpLoginSchema,
    OtpRequestSchema,
    PasswordChangeSchema,
    RegisterSchema,
)

TENANT_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
BATCH_STATES = ("CREATED", "READY", "PROCESSING", "COMPLETED", "ERROR", "ABORTED")
MAX_NOTE_LENGTH = 10_000


def _described(text: str, **extra: Any) -> dict[str, Any]:
    return {"description": text, **extra}


def _timestamp(text: str, *, nullable: bool = False) -> fields.String:
    return fields.String(
        required=not nullable,
        allow_none=nullable,
        metadata=_described(
            f"{text} ISO 8601 UTC with milliseconds.",
            format="date-time",
            example="2023-05-19T03:48:22.075Z",
        ),
    )


def _nullable_text(text: str = "") -> fields.String:
    return fields.String(allow_none=True, metadata=_described(text) if text else {})


def _money(text: str) -> fields.String:
    return fields.String(allow_none=True, metadata=_described(text, example="1234.50"))


class _Doc(Schema):
    """Base of the schemas declared here: other members are allowed (and ignored by readers),
    like everywhere in this API."""

    class Meta:
        unknown = EXCLUDE


# ---------------------------------------------------------------------------------------------
# Customer requests: the real schemas, plus the identifier a body-addressed PUT may carry.


class CustomerUpdateSchema(CustomerSchema):
    """A PUT body: any writable field (email optional); `PUT /customers` finds the customer by
    `id`, else `customerRef`, else `email`."""

    id = fields.UUID(
        allow_none=True,
        metadata=_described("Which customer to update (PUT /customers only); read-only."),
    )


# ---------------------------------------------------------------------------------------------
# Customer responses


class OptinPreferenceOut(OptinPreferenceSchema):
    opt_in_active = fields.Boolean()
    opted_in_at = _timestamp("When the channel first became active (server-owned).", nullable=True)
    opt_in_updated_at = _timestamp("When opt_in_active last changed (server-owned).", nullable=True)


class OptinPreferencesOut(OptinPreferencesSchema):
    email = fields.Nested(OptinPreferenceOut, required=True)
    sms = fields.Nested(OptinPreferenceOut, required=True)


class AddressOut(AddressSchema):
    id = fields.String(required=True, metadata=_described("Generated address id (UUID)."))
    email = _nullable_text()
    countryCode = _nullable_text("ISO 3166-1 alpha-2, upper case.")
    customerId = fields.String(metadata=_described("The customer's id (read-only)."))
    defaultAddress = fields.Boolean(metadata=_described("At most one address is the default."))


class CustomerOut(CustomerSchema):
    """A customer as every read and write answers it: every field present."""

    id = fields.String(required=True, metadata=_described("Generated customer id (UUID)."))
    email = fields.String(required=True)
    customer_state = fields.String(
        allow_none=True, validate=validate.OneOf(CUSTOMER_STATES), metadata={"default": "enabled"}
    )
    marketing_optin_level = fields.String(
        allow_none=True, validate=validate.OneOf(MARKETING_OPTIN_LEVELS)
    )
    vipStatus = fields.Boolean(allow_none=True)
    spendToNextTier = _nullable_text()
    taxExemptions = fields.List(fields.String(), required=True)
    optin_preferences = fields.Nested(OptinPreferencesOut, required=True)
    attributeGroups = fields.Dict(
        keys=fields.String(), values=fields.Nested(AttributeGroupSchema), required=True
    )
    addresses = fields.List(fields.Nested(AddressOut), required=True)
    defaultAddress = fields.Nested(
        AddressOut,
        allow_none=True,
        metadata=_described("The default address (the first one when none is flagged)."),
    )
    marketing_preferences_updated_at = _timestamp(
        "When accepts_marketing or marketing_optin_level last changed.", nullable=True
    )
    deleted = fields.Boolean(required=True)
    createdDate = _timestamp("Created at.")
    lastModifiedDate = _timestamp("Last changed at.")
    # Computed from the order facts (API.md §11): strings, null while no placed order.
    lifetimeOrderValue = _money("Sum of the placed orders' totals.")
    averageSpendPerAnnum = _money("totalSpend / max(1, years since the first order).")
    running12monthSpend = _money("totalSpend over placed orders of the last 365 days.")
    totalOrders = fields.String(
        allow_none=True, metadata=_described("Number of placed orders.", example="12")
    )
    totalSpend = _money("Sum of (total - refundedAmount) over placed orders.")
    lastOrderDate = _timestamp("orderDate of the latest placed order.", nullable=True)
    lastOrderRef = _nullable_text("orderRef of the latest placed order.")


class ValidationResult(_Doc):
    valid = fields.Boolean(required=True)


# ---------------------------------------------------------------------------------------------
# Shopper accounts (API.md §10): requests are the service's own schemas (shared.schemas.shoppers)


def _shopper_profile() -> Schema:
    """What a shopper may write of its customer (register's `customer`, PUT /me): the customer
    fields but the retailer-owned ones, which are dropped unread (so anything goes there)."""
    declared = CustomerSchema._declared_fields
    kept = {
        name: copy.deepcopy(field)
        for name, field in declared.items()
        if name not in RETAILER_OWNED_FIELDS
    }
    return _Doc.from_dict(kept, name="ShopperProfile")(partial=True)


SHOPPER_PROFILE = _shopper_profile()


class ShopperRegisterRequest(RegisterSchema):
    customer = fields.Nested(
        SHOPPER_PROFILE,
        allow_none=True,
        metadata=_described("Optional v2 customer fields (retailer-owned ones ignored)."),
    )


class ShopperTokenOut(_Doc):
    AccessToken = fields.String(
        required=True,
        metadata=_described("The opaque session token: send it as the AccessToken header."),
    )
    issued_at = _timestamp("Issued at.")
    expires_at = _timestamp("Expires at (SHOPPER_SESSION_TTL_SECONDS later).")
    UserId = fields.String(required=True, metadata=_described("The shopper's customer id."))
    MerchantId = fields.String(required=True, metadata=_described("The tenant."))


class ShopperLoginOut(_Doc):
    Token = fields.Nested(ShopperTokenOut, required=True)


class OtpChallengeOut(_Doc):
    otptoken = fields.String(
        required=True, metadata=_described("Send it as the otptoken header of /login/otp.")
    )
    expires_at = _timestamp("The code expires at.")


class ShopperSessionOut(_Doc):
    SessionValid = fields.Boolean(required=True)
    UserId = fields.String(metadata=_described("Present when the session is valid."))
    issued_at = _timestamp("Present when the session is valid.", nullable=True)
    expires_at = _timestamp("Present when the session is valid.", nullable=True)


# ---------------------------------------------------------------------------------------------
# Orders (validated by customer_service.orders.facts, which has no marshmallow schema)


_FACT_TEXT = {
    "type": "string",
    "maxLength": facts.MAX_TEXT,
    "pattern": patterns.stripped_length_at_least(1, without="\x00"),
}


def _fact_text(text: str = "", **extra: Any) -> fields.String:
    """customer_service.orders.facts' text: not blank, at most MAX_TEXT, no NUL."""
    return fields.String(allow_none=True, metadata=_described(text, **_FACT_TEXT, **extra))


class OrderFactRequest(_Doc):
    eventId = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=facts.MAX_EVENT_ID),
        metadata=_described(
            "Idempotency key: a second fact with it changes nothing (default: new)."
        ),
    )
    occurredAt = fields.String(
        allow_none=True,
        metadata=_described(
            "When the fact was true (default: now); the latest per orderRef wins.",
            format="date-time",
        ),
    )
    orderRef = _fact_text()
    orderName = _fact_text()
    # Which customer: the first of these present and not null; only that one is checked
    # (the component's anyOf).
    customerId = fields.Raw(
        allow_none=True, metadata=_described("Else customerRef, else email (a UUID).")
    )
    customerRef = fields.Raw(allow_none=True, metadata=_described("Else email."))
    email = fields.Raw(allow_none=True, metadata=_described("Holds an @."))
    orderDate = fields.String(metadata=_described("ISO 8601.", format="date-time"))
    total = fields.String(
        metadata=_described(
            "Decimal string >= 0, at most 2 decimals.",
            example="1234.50",
            pattern=facts.AMOUNT_PATTERN,
        ),
    )
    refundedAmount = fields.String(
        allow_none=True,
        metadata=_described(
            "At most total (default 0.00).", example="0.00", pattern=facts.AMOUNT_PATTERN
        ),
    )
    currency = fields.String(
        metadata=_described(
            "ISO 4217, any case.",
            pattern=patterns.one_of(facts.CURRENCY_CODES, any_case=True),
        ),
    )
    status = fields.String(validate=validate.OneOf(facts.STATUSES))


def _fact_customer() -> list[dict[str, Any]]:
    """The customer of a fact: customerId if given, else customerRef, else email."""
    absent = {"type": "null"}
    kinds = {
        "customerId": {"type": "string", "format": "uuid"},
        "customerRef": _FACT_TEXT,
        "email": {**_FACT_TEXT, "pattern": "^[^\\u0000]*@[^\\u0000]*$"},
    }
    options = []
    for index, (kind, schema) in enumerate(kinds.items()):
        earlier = {name: absent for name in list(kinds)[:index]}
        options.append({"required": [kind], "properties": {**earlier, kind: schema}})
    return options


# ---------------------------------------------------------------------------------------------
# TWC v1 customers (translated to v2 by customer_service.v1, which has no marshmallow schema)


def _v1_fields(names: dict[str, str], schema: type[Schema]) -> dict[str, fields.Field]:
    """The v2 fields a v1 body is translated into (customer_service.v1.translate), under their
    v1 names: the v2 schema validates them, so they mean exactly what the v2 field means."""
    declared = schema._declared_fields
    return {v1: copy.deepcopy(declared[v2]) for v1, v2 in names.items() if v2 in declared}


_NOT_NUL = patterns.NO_NUL
_V1_TEXT_LIST = {"type": "array", "items": {"type": "string", "pattern": _NOT_NUL}}


class V1Address(_Doc.from_dict(_v1_fields(v1_translate.ADDRESS_FIELDS, AddressSchema))):  # type: ignore[misc]
    id = fields.String(allow_none=True, metadata=_described("Keeps the address when sent back."))


def _v1_rules(addresses: fields.Field) -> dict[str, fields.Field]:
    """The fields v1's own rules check (customer_service.v1.translate), at the request and
    upload alike; the other fields are checked as their v2 twins."""
    return {
        "id": fields.Raw(
            allow_none=True,
            metadata=_described(
                "The v2 customerRef; a JSON integer is stored as its decimal string.",
                anyOf=[
                    {"type": "integer"},
                    {
                        "type": "string",
                        "maxLength": MAX_STRING_LENGTH,
                        "pattern": patterns.stripped_length_at_least(1, without="\x00"),
                    },
                    {"type": "null"},
                ],
            ),
        ),
        "phone": fields.String(
            allow_none=True,
            metadata=_described(
                "E.164 once spaces, -, ( and ) are removed.",
                example="+14155550123",
                pattern=v1_translate.PHONE_PATTERN,
            ),
        ),
        "tax_exemptions": fields.Raw(
            allow_none=True,
            metadata=_described(
                "A comma-separated string or a list of strings.",
                anyOf=[{"type": "string", "pattern": _NOT_NUL}, _V1_TEXT_LIST, {"type": "null"}],
            ),
        ),
        "tags": fields.Raw(
            allow_none=True,
            metadata=_described(
                f"Comma-separated (or a list); trimmed, empties and duplicates dropped; at most "
                f"{v1_translate.MAX_TAGS} of <= {v1_translate.MAX_TAG_LENGTH} characters. Not "
                "shown by v2; a v2 PUT keeps it.",
                anyOf=[
                    {"type": "string", "pattern": _NOT_NUL},
                    {**_V1_TEXT_LIST, "maxItems": v1_translate.MAX_TAGS},
                    {"type": "null"},
                ],
            ),
        ),
        "note": fields.String(
            allow_none=True,
            validate=validate.Length(max=v1_translate.MAX_NOTE_LENGTH),
            metadata=_described("v1 only.", pattern=_NOT_NUL),
        ),
        "multipass_identifier": fields.String(
            allow_none=True,
            validate=validate.Length(min=1, max=MAX_STRING_LENGTH),
            metadata=_described("v1 only.", pattern=_NOT_NUL),
        ),
        "addresses": addresses,
    }


V1ImportRecord = _Doc.from_dict(
    _v1_rules(fields.List(fields.Dict(), allow_none=True)), name="V1ImportRecord"
)
V1CustomerRequest = _Doc.from_dict(
    {
        **_v1_fields(v1_translate.FIELDS, CustomerSchema),
        **_v1_rules(fields.List(fields.Nested(V1Address), allow_none=True)),
        "twc_customer_id": fields.String(
            metadata=_described("The v2 id (read-only; names the customer in a PUT).")
        ),
    },
    name="V1CustomerRequest",
)


class V1Customer(V1CustomerRequest):  # type: ignore[misc,valid-type]
    id = fields.String(allow_none=True, metadata=_described("The customerRef."))
    twc_customer_id = fields.String(required=True)
    tags = fields.String(required=True, metadata=_described("Comma-separated."))
    tax_exemptions = fields.List(fields.String(), required=True)
    accepts_marketing_updated_at = _timestamp("When accepts_marketing last changed.", nullable=True)
    default_address = fields.Nested(V1Address, allow_none=True)
    created_at = _timestamp("Created at.")
    updated_at = _timestamp("Last changed at.")
    orders_count = fields.Integer(required=True, metadata=_described("Placed orders (§11)."))
    total_spent = fields.Float(
        required=True, metadata=_described("Sum of (total - refundedAmount) of placed orders.")
    )
    last_order_id = fields.String(allow_none=True, metadata=_described("orderRef."))
    last_order_name = fields.String(allow_none=True)
    currency = fields.String(allow_none=True, metadata=_described("Of the latest order."))


class OrderEventsAccepted(_Doc):
    accepted = fields.Integer(required=True, metadata=_described("How many facts were taken."))


# ---------------------------------------------------------------------------------------------
# Notes


class NoteCreate(_Doc):
    customerId = fields.UUID(metadata=_described("The customer's id (or give customerRef)."))
    customerRef = fields.String(metadata=_described("The customer's customerRef."))
    note = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NOTE_LENGTH))


class NoteUpdate(_Doc):
    id = fields.UUID(required=True)
    note = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NOTE_LENGTH))


class NoteOut(_Doc):
    id = fields.String(required=True)
    customerId = fields.String(required=True)
    customerRef = _nullable_text()
    note = fields.String(required=True)
    createdDate = _timestamp("Created at.")
    lastModifiedDate = _timestamp("Last changed at.")


# ---------------------------------------------------------------------------------------------
# Imports


class BatchCreate(_Doc):
    batchRef = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=MAX_BATCH_REF_LENGTH),
        metadata=_described("Optional, unique per tenant.", pattern=patterns.NO_NUL),
    )


class BatchOut(_Doc):
    id = fields.String(required=True)
    batchRef = _nullable_text()
    state = fields.String(required=True, validate=validate.OneOf(BATCH_STATES))
    total = fields.Integer(allow_none=True)
    processed = fields.Integer(metadata=_described("imported + failed"))
    imported = fields.Integer()
    failed = fields.Integer()
    createdAt = _timestamp("Created at.")
    modifiedAt = _timestamp("Last changed at.", nullable=True)
    completedAt = _timestamp("Finished at.", nullable=True)
    errorMessage = _nullable_text("Why the batch is ERROR or ABORTED.")


class ResourceCreate(_Doc):
    batchId = fields.UUID(metadata=_described("The batch (or give batchRef)."))
    batchRef = fields.String(metadata=_described("The batch's batchRef (empty: not given)."))
    entityType = fields.String(required=True, validate=validate.OneOf(["customer"]))
    customer = fields.Dict(
        required=True,
        metadata=_described(
            "A customer request (see CustomerRequest), validated when the batch runs: an "
            "invalid one becomes a row error of the batch."
        ),
    )


class ResourceAddedOut(_Doc):
    batchId = fields.String(required=True)
    batchRef = _nullable_text()
    entityType = fields.String(required=True)
    row = fields.Integer(required=True, metadata=_described("The record's row in the batch."))


class RowErrorOut(_Doc):
    row = fields.Integer(required=True, metadata=_described("Record number, from 1."))
    customerRef = _nullable_text()
    email = _nullable_text()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class _Page(_Doc):
    page = fields.Integer(required=True, metadata=_described("From 0."))
    pageSize = fields.Integer(required=True)
    total = fields.Integer(required=True)


class BatchPage(_Page):
    results = fields.List(fields.Nested(BatchOut), required=True)


class RowErrorPage(_Page):
    results = fields.List(fields.Nested(RowErrorOut), required=True)


# ---------------------------------------------------------------------------------------------
# Errors


class Problem(_Doc):
    """RFC 9457 problem details."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata=_described("Messages by field path, e.g. addresses.0.countryCode."),
    )
    requestId = fields.String()


class OAuthErrorOut(_Doc):
    """RFC 6749 §5.2 error of the OAuth endpoints."""

    error = fields.String(required=True)
    error_description = fields.String()


# ---------------------------------------------------------------------------------------------
# Authentication


class TokenRequest(_Doc):
    """The client authenticates with HTTP Basic (the security scheme), or instead sends
    client_id and client_secret as form fields (RFC 6749 §2.3.1), never both."""

    grant_type = fields.String(required=True, validate=validate.OneOf(["client_credentials"]))
    scope = fields.String(
        metadata=_described(
            "Space-separated subset of the client's scopes; default all.",
            pattern=patterns.space_separated(ALL_SCOPES),
        )
    )


class TokenOut(_Doc):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True)
    scope = fields.String(required=True)


class TokenActionRequest(_Doc):
    """Revocation (RFC 7009) and introspection (RFC 7662) requests."""

    token = fields.String(required=True, validate=validate.Length(min=1))
    token_type_hint = fields.String()


class IntrospectionOut(_Doc):
    active = fields.Boolean(required=True)
    scope = fields.String()
    client_id = fields.String()
    sub = fields.String()
    tenant = fields.String()
    exp = fields.Integer()
    iat = fields.Integer()
    jti = fields.String()


class JwkOut(_Doc):
    kty = fields.String(required=True)
    kid = fields.String(required=True)
    use = fields.String()
    alg = fields.String()
    n = fields.String()
    e = fields.String()


class JwksOut(_Doc):
    keys = fields.List(fields.Nested(JwkOut), required=True)


class OpenIdConfigurationOut(_Doc):
    issuer = fields.String(required=True)
    token_endpoint = fields.String(required=True)
    jwks_uri = fields.String(required=True)
    revocation_endpoint = fields.String()
    introspection_endpoint = fields.String()


# Component name → schema, registered in this order (nested schemas first, so every reference
# to them uses these names).
COMPONENTS: dict[str, type[Schema] | Schema] = {
    "AttributeGroup": AttributeGroupSchema,
    "OptinPreferenceRequest": OptinPreferenceSchema,
    "OptinPreferencesRequest": OptinPreferencesSchema,
    "AddressRequest": AddressSchema,
    "CustomerRequest": CustomerSchema,
    "CustomerUpdateRequest": CustomerUpdateSchema(partial=True),
    "OptinPreference": OptinPreferenceOut,
    "OptinPreferences": OptinPreferencesOut,
    "Address": AddressOut,
    "Customer": CustomerOut,
    "ValidationResult": ValidationResult,
    "OrderFactRequest": OrderFactRequest,
    "OrderEventsAccepted": OrderEventsAccepted,
    "V1Address": V1Address,
    "V1CustomerRequest": V1CustomerRequest,
    "V1CustomerUpdateRequest": V1CustomerRequest(partial=True),
    "V1ImportRecord": V1ImportRecord,
    "V1Customer": V1Customer,
    "NoteCreateRequest": NoteCreate,
    "NoteUpdateRequest": NoteUpdate,
    "Note": NoteOut,
    "BatchCreateRequest": BatchCreate,
    "ResourceRequest": ResourceCreate,
    "ResourceAdded": ResourceAddedOut,
    "Batch": BatchOut,
    "BatchPage": BatchPage,
    "RowError": RowErrorOut,
    "RowErrorPage": RowErrorPage,
    "Problem": Problem,
    "OAuthError": OAuthErrorOut,
    "TokenRequest": TokenRequest,
    "Token": TokenOut,
    "TokenActionRequest": TokenActionRequest,
    "Introspection": IntrospectionOut,
    "JWK": JwkOut,
    "JWKS": JwksOut,
    "OpenIDConfiguration": OpenIdConfigurationOut,
    "ShopperProfile": SHOPPER_PROFILE,
    "ShopperRegisterRequest": ShopperRegisterRequest,
    "ShopperLoginRequest": LoginSchema,
    "OtpRequest": OtpRequestSchema,
    "OtpLoginRequest": OtpLoginSchema,
    "PasswordChangeRequest": PasswordChangeSchema,
    "AdminPasswordRequest": AdminPasswordSchema,
    "ShopperLogin": ShopperLoginOut,
    "OtpChallenge": OtpChallengeOut,
    "ShopperSession": ShopperSessionOut,
}


# Schemas with no marshmallow counterpart.
RAW_COMPONENTS: dict[str, dict[str, Any]] = {
    "ImportRecord": {
        "description": "A customer request (see CustomerRequest), validated when the batch "
        "runs: an invalid record becomes a row error of the batch, not a 400.",
    },
}

# What marshmallow cannot say: one of two members is required.
COMPONENT_CONSTRAINTS: dict[str, dict[str, Any]] = {
    # The record's batch: batchId, else batchRef (empty counts as not given).
    "ResourceRequest": {
        "anyOf": [
            {"required": ["batchId"]},
            {"required": ["batchRef"], "properties": {"batchRef": {"minLength": 1}}},
        ]
    },
    "OrderFactRequest": {
        "required": ["orderRef", "orderDate", "total", "currency", "status"],
        "anyOf": _fact_customer(),
    },
    # Forms: one value per parameter (RFC 6749 §3.2: a repeated one is invalid_request).
    "TokenRequest": {"additionalProperties": {"type": "string"}},
    "TokenActionRequest": {"additionalProperties": {"type": "string"}},
    # The note's customer: customerId, else customerRef (empty counts as not given).
    "NoteCreateRequest": {
        "anyOf": [
            {"required": ["customerId"]},
            {"required": ["customerRef"], "properties": {"customerRef": {"minLength": 1}}},
        ]
    },
}


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
