"""The OpenAPI rows and schemas of the customer collection (API.md §7 to §9): listing, count,
query search, batch writes, the data-subject export and the address sub-resource."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from customer_service.batch.items import MAX_ITEMS, OPERATIONS
from customer_service.collection.params import (
    FILTER_NAMES,
    MAX_QUERY_LENGTH,
    MIN_CONTAINS_LENGTH,
    SEPARATOR,
    SORT_COLUMNS,
)
from customer_service.openapi.operations import EMPTY, PAGE, PAGE_SIZE
from customer_service.openapi.schemas import CustomerOut, NoteOut
from shared.openapi.base import DocSchema, Page, Problem, described, timestamp
from shared.openapi.table import CUSTOMERS_TAG, Operation, Param
from shared.schemas.patterns import stripped_length_at_least

_V2 = "/api/v2"
_INSTANT = {"type": "string", "format": "date-time", "example": "2024-05-19T03:48:22.075Z"}


# --- schemas


class CustomerPage(Page):
    results = fields.List(fields.Nested(CustomerOut), required=True)


class CustomerCount(DocSchema):
    count = fields.Integer(required=True, metadata=described("Live customers matching."))


def _criterion(text: str, **extra: Any) -> fields.String:
    """A search criterion: not blank, at most MAX_QUERY_LENGTH characters; null is absent."""
    return fields.String(
        allow_none=True,
        validate=validate.Length(max=MAX_QUERY_LENGTH),
        metadata=described(text, pattern=stripped_length_at_least(1), **extra),
    )


class CustomerSearchRequest(DocSchema):
    query = fields.String(
        allow_none=True,
        validate=validate.Length(max=MAX_QUERY_LENGTH),
        metadata=described(
            "Case-insensitive: any of firstName, lastName, email, mobile, or an address's city, "
            f"postcode or company contains it (at least {MIN_CONTAINS_LENGTH} characters, "
            "trimmed), or equals it with exactMatch. Never holds U+001F.",
            pattern=stripped_length_at_least(1, without=SEPARATOR),
        ),
    )
    exactMatch = fields.Boolean(allow_none=True, metadata={"default": False})
    email = _criterion("Exact, case-insensitive.")
    mobile = _criterion("Exact.")
    storeUid = _criterion("Equals joinedStoreId or location.")
    createdSince = _criterion("ISO 8601 instant, inclusive.", **_INSTANT)


class BatchDeleteItem(DocSchema):
    id = fields.String(metadata=described("The customer's id (or give customerRef)."))
    customerRef = fields.String()


def _items(inner: fields.Field, text: str = "") -> fields.List:
    return fields.List(
        inner,
        allow_none=True,
        metadata=described(text, maxItems=MAX_ITEMS) if text else {"maxItems": MAX_ITEMS},
    )


# Items are any JSON values: each is validated like its single endpoint, and an invalid one
# fails alone (its result's status and error, a 207), never the request.
class BatchRequest(DocSchema):
    create = _items(fields.Raw(), "Customer requests, as POST (see CustomerRequest).")
    update = _items(
        fields.Raw(), "Customer updates naming their customer by id, customerRef or email."
    )
    upsert = _items(
        fields.Raw(),
        "Matched by id (unknown → 404), else customerRef, else email: merged, else created.",
    )
    delete = _items(fields.Raw(), "Each a BatchDeleteItem: {id} or {customerRef}.")


class BatchItemResult(DocSchema):
    operation = fields.String(required=True, validate=validate.OneOf(OPERATIONS))
    index = fields.Integer(required=True, metadata=described("Position in its own array."))
    status = fields.Integer(required=True, metadata=described("What its single endpoint says."))
    id = fields.String(metadata=described("The customer's id, on success."))
    customer = fields.Nested(CustomerOut, metadata=described("On a create, update or upsert."))
    error = fields.Nested(Problem, metadata=described("On failure."))


class BatchResult(DocSchema):
    results = fields.List(fields.Nested(BatchItemResult), required=True)
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class WishlistItemOut(DocSchema):
    id = fields.String(required=True)
    productRef = fields.String(allow_none=True, required=True)
    variantRef = fields.String(allow_none=True, required=True)
    purchased = fields.Boolean(required=True)
    createdAt = timestamp("Added at.")


class WishlistOut(DocSchema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True, required=True)
    wishlistRef = fields.String(allow_none=True, required=True)
    isPrivate = fields.Boolean(required=True)
    createdAt = timestamp("Created at.")
    updatedAt = timestamp("Last changed at.")
    items = fields.List(fields.Nested(WishlistItemOut), required=True)


class ImportErrorOut(DocSchema):
    batchId = fields.String(required=True)
    row = fields.Integer(required=True, metadata=described("Record number, from 1."))
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


_NAMED_BY = "Present when the sender named the customer by it."


class ExportOrderFact(DocSchema):
    eventId = fields.String(required=True)
    occurredAt = timestamp("When the fact was true (the latest one wins).")
    orderRef = fields.String(required=True)
    orderName = fields.String(required=True, allow_none=True)
    # Exactly one of the three: how the sender named the customer.
    customerId = fields.String(metadata=described(_NAMED_BY))
    customerRef = fields.String(metadata=described(_NAMED_BY))
    email = fields.String(metadata=described(_NAMED_BY))
    orderDate = timestamp("Ordered at.")
    total = fields.String(required=True, metadata=described("Decimal string.", example="120.00"))
    refundedAmount = fields.String(required=True, metadata=described("Decimal string."))
    currency = fields.String(required=True, metadata=described("ISO 4217.", example="EUR"))
    status = fields.String(required=True, validate=validate.OneOf(("placed", "cancelled", "test")))


class ExportSession(DocSchema):
    issuedAt = timestamp("Issued at.")
    expiresAt = timestamp("Expires at.")


class ExportOneTimeCode(DocSchema):
    expiresAt = timestamp("Expires at.")
    usedAt = timestamp("Used at.", nullable=True)
    attempts = fields.Integer(required=True)


class ExportAccount(DocSchema):
    username = fields.String(required=True, allow_none=True, metadata=described("The email."))
    createdAt = timestamp("Login created at.")
    passwordChangedAt = timestamp("Password last set at.")
    sessions = fields.List(fields.Nested(ExportSession), required=True)
    oneTimeCodes = fields.List(fields.Nested(ExportOneTimeCode), required=True)


class CustomerExport(DocSchema):
    exportedAt = timestamp("Made at.")
    tenant = fields.String(required=True)
    customer = fields.Nested(CustomerOut, required=True)
    notes = fields.List(fields.Nested(NoteOut), required=True, metadata=described("Oldest first."))
    wishlists = fields.List(fields.Nested(WishlistOut), required=True)
    orders = fields.List(
        fields.Nested(ExportOrderFact),
        required=True,
        metadata=described("Every order fact of the customer, any status, oldest first."),
    )
    account = fields.Nested(
        ExportAccount,
        required=True,
        allow_none=True,
        metadata=described("Shopper account metadata (never a hash or token), or null."),
    )
    importErrors = fields.List(
        fields.Nested(ImportErrorOut),
        required=True,
        metadata=described("Import row errors holding this customer's email or one of its refs."),
    )


COLLECTION_COMPONENTS: dict[str, type[Schema]] = {
    "CustomerPage": CustomerPage,
    "CustomerCount": CustomerCount,
    "CustomerSearchRequest": CustomerSearchRequest,
    "BatchDeleteItem": BatchDeleteItem,
    "CustomerBatchRequest": BatchRequest,
    "CustomerBatchItemResult": BatchItemResult,
    "CustomerBatchResult": BatchResult,
    "WishlistItem": WishlistItemOut,
    "Wishlist": WishlistOut,
    "CustomerImportError": ImportErrorOut,
    "CustomerExportOrderFact": ExportOrderFact,
    "CustomerExportSession": ExportSession,
    "CustomerExportOneTimeCode": ExportOneTimeCode,
    "CustomerExportAccount": ExportAccount,
    "CustomerExport": CustomerExport,
}


# What marshmallow cannot say: `query` needs MIN_CONTAINS_LENGTH characters (trimmed) unless
# exactMatch is true.
COLLECTION_CONSTRAINTS: dict[str, dict[str, Any]] = {
    "CustomerSearchRequest": {
        "anyOf": [
            {"properties": {"exactMatch": {"const": True}}, "required": ["exactMatch"]},
            {
                "properties": {
                    "query": {
                        "anyOf": [
                            {"type": "null"},
                            {
                                "type": "string",
                                "pattern": stripped_length_at_least(
                                    MIN_CONTAINS_LENGTH, without=SEPARATOR
                                ),
                            },
                        ]
                    }
                }
            },
        ]
    }
}


# --- operation rows

_PAGE_NUMBER = Param("pageNumber", "The POS name of page (both given must agree).", PAGE.schema)
_SORT = (
    Param(
        "sortBy",
        "Sort key; ties break on id, nulls last.",
        {"type": "string", "enum": [*SORT_COLUMNS, ""], "default": "createdDate"},
    ),
    Param(
        "sortDirection",
        "ASC (default) or DESC, any case.",
        {"type": "string", "pattern": "^([Aa][Ss][Cc]|[Dd][Ee][Ss][Cc])?$"},
    ),
)
_PAGING = (PAGE, _PAGE_NUMBER, PAGE_SIZE, *_SORT)


def _filter(name: str) -> Param:
    if name.endswith("Since"):
        return Param(
            name, "ISO 8601 instant, inclusive (empty: not given).", {"anyOf": [_INSTANT, EMPTY]}
        )
    words = {
        "customerExternalId": "Exact customerRef (the POS name).",
        "email": "Exact email, any case.",
    }
    return Param(name, words.get(name, f"Exact {name}.") + " Empty: not given.", {"type": "string"})


_FILTERS = tuple(_filter(name) for name in FILTER_NAMES)

COLLECTION_OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", f"{_V2}/customers"): Operation(
        "List customers", CUSTOMERS_TAG, response="CustomerPage", query=(*_PAGING, *_FILTERS),
        description="A page of full customers; filters are exact and ANDed; total is exact. "
        "Incremental sync: modifiedSince=T&sortBy=lastModifiedDate.",
        unstated="page and pageNumber, and customerRef and customerExternalId, each pair both "
        "given must agree.",
    ),
    ("GET", f"{_V2}/customers/count"): Operation(
        "Count customers", CUSTOMERS_TAG, response="CustomerCount", query=_FILTERS,
        unstated="customerRef and customerExternalId both given must agree.",
    ),
    ("POST", f"{_V2}/customers/search"): Operation(
        "Search customers (query)", CUSTOMERS_TAG, body="CustomerSearchRequest",
        body_required=False,
        response="CustomerPage", query=_PAGING,
        description="Every given criterion must match; an empty body lists everyone; vatNumber "
        "is not supported (400). With a query, total is exact up to 1,000 matches; a search "
        "matching more answers total 1,000 (every page is still served, in sort order).",
        unstated="page and pageNumber both given must agree.",
    ),
    ("POST", f"{_V2}/customers/batch"): Operation(
        "Create, update, upsert and delete customers in one request", CUSTOMERS_TAG,
        body="CustomerBatchRequest", response="CustomerBatchResult", also=(207,),
        description=f"1 to {MAX_ITEMS} items in all, run create → update → upsert → delete, "
        "each in its own transaction and exactly like its single endpoint. 200 when every item "
        "succeeded, 207 when any failed.",
        unstated=f"1 to {MAX_ITEMS} items across the four arrays together.",
    ),
    ("GET", f"{_V2}/customers/{{}}/export"): Operation(
        "Export everything held about a customer", CUSTOMERS_TAG, response="CustomerExport",
        description="For data-subject access requests: an attachment "
        "(customer-<id>.json), never cached; 503 rather than a partial export.",
    ),
    ("GET", f"{_V2}/customers/{{}}/address"): Operation(
        "List a customer's addresses", CUSTOMERS_TAG, response="Address[]",
    ),
    ("PUT", f"{_V2}/customers/{{}}/address/{{}}"): Operation(
        "Change an address", CUSTOMERS_TAG, body="AddressRequest", response="Customer",
        description="Merges into that address (absent kept, null clears); as default it "
        "demotes the previous default. Addresses also accept addressID as their id.",
    ),
}  # fmt: skip
