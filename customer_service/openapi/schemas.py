"""The schemas of customer_service's operations in the OpenAPI document.

Request bodies use the real schemas of `shared.schemas` (the ones the API and the import worker
validate with), or are built from the fields and constants of the module that validates them
(v1's translation, the order facts, the import inputs), so each constraint has one home.
Responses have no marshmallow schema in the service (they are rendered from records), so they
are declared here in the shapes API.md fixes; they subclass the request schemas where the
fields match.
"""

from __future__ import annotations

import copy
from typing import Any

from marshmallow import Schema, fields, validate

from customer_service.imports.inputs import MAX_BATCH_REF_LENGTH
from customer_service.shoppers.rules import RETAILER_OWNED_FIELDS
from customer_service.v1 import translate as v1_translate
from shared.customers import v1_fields
from shared.imports.representation import BATCH_STATES
from shared.openapi.base import DocSchema, Page, described, nullable_text, timestamp
from shared.orders import facts
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
from shared.schemas.notes import MAX_NOTE_LENGTH
from shared.schemas.shoppers import (
    AdminPasswordSchema,
    LoginSchema,
    OtpLoginSchema,
    OtpRequestSchema,
    PasswordChangeSchema,
    RegisterSchema,
)


def _money(text: str) -> fields.String:
    return fields.String(allow_none=True, metadata=described(text, example="1234.50"))


# ---------------------------------------------------------------------------------------------
# Customer requests: the real schemas, plus the identifier a body-addressed PUT may carry.


class CustomerUpdateSchema(CustomerSchema):
    """A PUT body: any writable field (email optional); `PUT /customers` finds the customer by
    `id`, else `customerRef`, else `email`."""

    id = fields.Raw(
        allow_none=True,
        metadata=described(
            "Which customer to update (PUT /customers only; read-only): a non-empty string is "
            "the customer's id (not one: 404); any other value counts as not given."
        ),
    )


# ---------------------------------------------------------------------------------------------
# Customer responses


class OptinPreferenceOut(OptinPreferenceSchema):
    opt_in_active = fields.Boolean()
    opted_in_at = timestamp("When the channel first became active (server-owned).", nullable=True)
    opt_in_updated_at = timestamp("When opt_in_active last changed (server-owned).", nullable=True)


class OptinPreferencesOut(OptinPreferencesSchema):
    email = fields.Nested(OptinPreferenceOut, required=True)
    sms = fields.Nested(OptinPreferenceOut, required=True)


class AddressOut(AddressSchema):
    id = fields.String(required=True, metadata=described("Generated address id (UUID)."))
    email = nullable_text()
    countryCode = nullable_text("ISO 3166-1 alpha-2, upper case.")
    customerId = fields.String(metadata=described("The customer's id (read-only)."))
    defaultAddress = fields.Boolean(metadata=described("At most one address is the default."))


class CustomerOut(CustomerSchema):
    """A customer as every read and write answers it: every field present."""

    id = fields.String(required=True, metadata=described("Generated customer id (UUID)."))
    email = fields.String(required=True)
    customer_state = fields.String(
        allow_none=True, validate=validate.OneOf(CUSTOMER_STATES), metadata={"default": "enabled"}
    )
    marketing_optin_level = fields.String(
        allow_none=True, validate=validate.OneOf(MARKETING_OPTIN_LEVELS)
    )
    vipStatus = fields.Boolean(allow_none=True)
    spendToNextTier = nullable_text()
    taxExemptions = fields.List(fields.String(), required=True)
    optin_preferences = fields.Nested(OptinPreferencesOut, required=True)
    attributeGroups = fields.Dict(
        keys=fields.String(), values=fields.Nested(AttributeGroupSchema), required=True
    )
    addresses = fields.List(fields.Nested(AddressOut), required=True)
    defaultAddress = fields.Nested(
        AddressOut,
        allow_none=True,
        metadata=described("The default address (the first one when none is flagged)."),
    )
    marketing_preferences_updated_at = timestamp(
        "When accepts_marketing or marketing_optin_level last changed.", nullable=True
    )
    deleted = fields.Boolean(required=True)
    createdDate = timestamp("Created at.")
    lastModifiedDate = timestamp("Last changed at.")
    # Computed from the order facts (API.md §11): strings, null while no placed order.
    lifetimeOrderValue = _money("Sum of the placed orders' totals.")
    averageSpendPerAnnum = _money("totalSpend / max(1, years since the first order).")
    running12monthSpend = _money("totalSpend over placed orders of the last 365 days.")
    totalOrders = fields.String(
        allow_none=True, metadata=described("Number of placed orders.", example="12")
    )
    totalSpend = _money("Sum of (total - refundedAmount) over placed orders.")
    lastOrderDate = timestamp("orderDate of the latest placed order.", nullable=True)
    lastOrderRef = nullable_text("orderRef of the latest placed order.")


class ValidationResult(DocSchema):
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
    return DocSchema.from_dict(kept, name="ShopperProfile")(partial=True)


SHOPPER_PROFILE = _shopper_profile()


class ShopperRegisterRequest(RegisterSchema):
    customer = fields.Nested(
        SHOPPER_PROFILE,
        allow_none=True,
        metadata=described("Optional v2 customer fields (retailer-owned ones ignored)."),
    )


class ShopperTokenOut(DocSchema):
    AccessToken = fields.String(
        required=True,
        metadata=described("The opaque session token: send it as the AccessToken header."),
    )
    issued_at = timestamp("Issued at.")
    expires_at = timestamp("Expires at (SHOPPER_SESSION_TTL_SECONDS later).")
    UserId = fields.String(required=True, metadata=described("The shopper's customer id."))
    MerchantId = fields.String(required=True, metadata=described("The tenant."))


class ShopperLoginOut(DocSchema):
    Token = fields.Nested(ShopperTokenOut, required=True)


class OtpChallengeOut(DocSchema):
    otptoken = fields.String(
        required=True, metadata=described("Send it as the otptoken header of /login/otp.")
    )
    expires_at = timestamp("The code expires at.")


class ShopperSessionOut(DocSchema):
    SessionValid = fields.Boolean(required=True)
    UserId = fields.String(metadata=described("Present when the session is valid."))
    issued_at = timestamp("Present when the session is valid.", nullable=True)
    expires_at = timestamp("Present when the session is valid.", nullable=True)


# ---------------------------------------------------------------------------------------------
# Orders (validated by shared.orders.facts, which has no marshmallow schema)


_FACT_TEXT = {
    "type": "string",
    "maxLength": facts.MAX_TEXT,
    "pattern": patterns.stripped_length_at_least(1, without="\x00"),
}


def _fact_text(text: str = "", **extra: Any) -> fields.String:
    """shared.orders.facts' text: not blank, at most MAX_TEXT, no NUL."""
    return fields.String(allow_none=True, metadata=described(text, **_FACT_TEXT, **extra))


class OrderFactRequest(DocSchema):
    eventId = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=facts.MAX_EVENT_ID),
        metadata=described(
            "Idempotency key: a second fact with it changes nothing (default: new)."
        ),
    )
    occurredAt = fields.String(
        allow_none=True,
        metadata=described(
            "When the fact was true (default: now); the latest per orderRef wins.",
            format="date-time",
        ),
    )
    orderRef = _fact_text()
    orderName = _fact_text()
    # Which customer: the first of these present and not null; only that one is checked
    # (the component's anyOf).
    customerId = fields.Raw(
        allow_none=True, metadata=described("Else customerRef, else email (a UUID).")
    )
    customerRef = fields.Raw(allow_none=True, metadata=described("Else email."))
    email = fields.Raw(allow_none=True, metadata=described("Holds an @."))
    orderDate = fields.String(metadata=described("ISO 8601.", format="date-time"))
    total = fields.String(
        metadata=described(
            "Decimal string >= 0, at most 2 decimals.",
            example="1234.50",
            pattern=facts.AMOUNT_PATTERN,
        ),
    )
    refundedAmount = fields.String(
        allow_none=True,
        metadata=described(
            "At most total (default 0.00).", example="0.00", pattern=facts.AMOUNT_PATTERN
        ),
    )
    currency = fields.String(
        metadata=described(
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


class V1Address(DocSchema.from_dict(_v1_fields(v1_translate.ADDRESS_FIELDS, AddressSchema))):  # type: ignore[misc]
    id = fields.String(allow_none=True, metadata=described("Keeps the address when sent back."))


def _v1_rules(addresses: fields.Field) -> dict[str, fields.Field]:
    """The fields v1's own rules check (customer_service.v1.translate), at the request and
    upload alike; the other fields are checked as their v2 twins."""
    return {
        "id": fields.Raw(
            allow_none=True,
            metadata=described(
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
            metadata=described(
                "E.164 once spaces, -, ( and ) are removed.",
                example="+14155550123",
                pattern=v1_translate.PHONE_PATTERN,
            ),
        ),
        "tax_exemptions": fields.Raw(
            allow_none=True,
            metadata=described(
                "A comma-separated string or a list of strings.",
                anyOf=[{"type": "string", "pattern": _NOT_NUL}, _V1_TEXT_LIST, {"type": "null"}],
            ),
        ),
        "tags": fields.Raw(
            allow_none=True,
            metadata=described(
                f"Comma-separated (or a list); trimmed, empties and duplicates dropped; at most "
                f"{v1_fields.MAX_TAGS} of <= {v1_fields.MAX_TAG_LENGTH} characters. Not "
                "shown by v2; a v2 PUT keeps it.",
                anyOf=[
                    {"type": "string", "pattern": _NOT_NUL},
                    {**_V1_TEXT_LIST, "maxItems": v1_fields.MAX_TAGS},
                    {"type": "null"},
                ],
            ),
        ),
        "note": fields.String(
            allow_none=True,
            validate=validate.Length(max=MAX_NOTE_LENGTH),
            metadata=described("v1 only.", pattern=_NOT_NUL),
        ),
        "multipass_identifier": fields.String(
            allow_none=True,
            validate=validate.Length(min=1, max=MAX_STRING_LENGTH),
            metadata=described("v1 only.", pattern=_NOT_NUL),
        ),
        "addresses": addresses,
    }


V1ImportRecord = DocSchema.from_dict(
    _v1_rules(fields.List(fields.Dict(), allow_none=True)), name="V1ImportRecord"
)
V1CustomerRequest = DocSchema.from_dict(
    {
        **_v1_fields(v1_translate.FIELDS, CustomerSchema),
        **_v1_rules(fields.List(fields.Nested(V1Address), allow_none=True)),
        "twc_customer_id": fields.String(
            metadata=described("The v2 id (read-only; names the customer in a PUT).")
        ),
    },
    name="V1CustomerRequest",
)


class V1Customer(V1CustomerRequest):  # type: ignore[misc,valid-type]
    id = fields.String(allow_none=True, metadata=described("The customerRef."))
    twc_customer_id = fields.String(required=True)
    tags = fields.String(required=True, metadata=described("Comma-separated."))
    tax_exemptions = fields.List(fields.String(), required=True)
    accepts_marketing_updated_at = timestamp("When accepts_marketing last changed.", nullable=True)
    default_address = fields.Nested(V1Address, allow_none=True)
    created_at = timestamp("Created at.")
    updated_at = timestamp("Last changed at.")
    orders_count = fields.Integer(required=True, metadata=described("Placed orders (§11)."))
    total_spent = fields.Float(
        required=True, metadata=described("Sum of (total - refundedAmount) of placed orders.")
    )
    last_order_id = fields.String(allow_none=True, metadata=described("orderRef."))
    last_order_name = fields.String(allow_none=True)
    currency = fields.String(allow_none=True, metadata=described("Of the latest order."))


class OrderEventsAccepted(DocSchema):
    accepted = fields.Integer(required=True, metadata=described("How many facts were taken."))


# ---------------------------------------------------------------------------------------------
# Notes


class NoteCreate(DocSchema):
    customerId = fields.UUID(metadata=described("The customer's id (or give customerRef)."))
    customerRef = fields.String(metadata=described("The customer's customerRef."))
    note = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NOTE_LENGTH))


class NoteUpdate(DocSchema):
    id = fields.UUID(required=True)
    note = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NOTE_LENGTH))


class NoteOut(DocSchema):
    id = fields.String(required=True)
    customerId = fields.String(required=True)
    customerRef = nullable_text()
    note = fields.String(required=True)
    createdDate = timestamp("Created at.")
    lastModifiedDate = timestamp("Last changed at.")


# ---------------------------------------------------------------------------------------------
# Imports


class BatchCreate(DocSchema):
    batchRef = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=MAX_BATCH_REF_LENGTH),
        metadata=described("Optional, unique per tenant.", pattern=patterns.NO_NUL),
    )


class BatchOut(DocSchema):
    id = fields.String(required=True)
    batchRef = nullable_text()
    state = fields.String(required=True, validate=validate.OneOf(BATCH_STATES))
    total = fields.Integer(allow_none=True)
    processed = fields.Integer(metadata=described("imported + failed"))
    imported = fields.Integer()
    failed = fields.Integer()
    createdAt = timestamp("Created at.")
    modifiedAt = timestamp("Last changed at.", nullable=True)
    completedAt = timestamp("Finished at.", nullable=True)
    errorMessage = nullable_text("Why the batch is ERROR or ABORTED.")


class ResourceCreate(DocSchema):
    batchId = fields.UUID(metadata=described("The batch (or give batchRef)."))
    batchRef = fields.String(metadata=described("The batch's batchRef (empty: not given)."))
    entityType = fields.String(required=True, validate=validate.OneOf(["customer"]))
    customer = fields.Dict(
        required=True,
        metadata=described(
            "A customer request (see CustomerRequest), validated when the batch runs: an "
            "invalid one becomes a row error of the batch."
        ),
    )


class ResourceAddedOut(DocSchema):
    batchId = fields.String(required=True)
    batchRef = nullable_text()
    entityType = fields.String(required=True)
    row = fields.Integer(required=True, metadata=described("The record's row in the batch."))


class RowErrorOut(DocSchema):
    row = fields.Integer(required=True, metadata=described("Record number, from 1."))
    customerRef = nullable_text()
    email = nullable_text()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class BatchPage(Page):
    results = fields.List(fields.Nested(BatchOut), required=True)


class RowErrorPage(Page):
    results = fields.List(fields.Nested(RowErrorOut), required=True)


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
    # The note's customer: customerId, else customerRef (empty counts as not given).
    "NoteCreateRequest": {
        "anyOf": [
            {"required": ["customerId"]},
            {"required": ["customerRef"], "properties": {"customerRef": {"minLength": 1}}},
        ]
    },
}
