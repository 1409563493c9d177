"""The OpenAPI rows and schemas of the customer collection (API.md §7 to §9): listing, count,
query search, batch writes, the data-subject export and the address sub-resource."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from gateway.openapi.operations import CUSTOMERS, Operation, Param
from gateway.openapi.schemas import CustomerOut, NoteOut, Problem, _Doc, _Page, _timestamp
from shared.customers.collection import (
    BATCH_OPERATIONS,
    FILTER_NAMES,
    MAX_BATCH_ITEMS,
    MAX_QUERY_LENGTH,
    SORT_COLUMNS,
)

_V2 = "/api/v2"
_INSTANT = {"type": "string", "format": "date-time", "example": "2024-05-19T03:48:22.075Z"}
_EMPTY = {"type": "string", "maxLength": 0}  # an empty value means the default


def _described(text: str, **extra: Any) -> dict[str, Any]:
    return {"description": text, **extra}


# --- schemas


class CustomerPage(_Page):
    results = fields.List(fields.Nested(CustomerOut), required=True)


class CustomerCount(_Doc):
    count = fields.Integer(required=True, metadata=_described("Live customers matching."))


class CustomerSearchRequest(_Doc):
    query = fields.String(
        validate=validate.Length(min=1, max=MAX_QUERY_LENGTH),
        metadata=_described(
            "Case-insensitive: any of firstName, lastName, email, mobile, or an address's city, "
            "postcode or company contains it (at least 3 characters, trimmed), or equals it "
            "with exactMatch."
        ),
    )
    exactMatch = fields.Boolean(metadata={"default": False})
    email = fields.String(metadata=_described("Exact, case-insensitive."))
    mobile = fields.String(metadata=_described("Exact."))
    storeUid = fields.String(metadata=_described("Equals joinedStoreId or location."))
    createdSince = fields.String(metadata=_described("ISO 8601 instant, inclusive.", **_INSTANT))


class BatchDeleteItem(_Doc):
    id = fields.String(metadata=_described("The customer's id (or give customerRef)."))
    customerRef = fields.String()


class BatchRequest(_Doc):
    create = fields.List(fields.Dict(), metadata=_described("Customer requests, as POST."))
    update = fields.List(
        fields.Dict(),
        metadata=_described("Customer updates naming their customer by id, customerRef or email."),
    )
    upsert = fields.List(
        fields.Dict(),
        metadata=_described(
            "Matched by id (unknown → 404), else customerRef, else email: merged, else created."
        ),
    )
    delete = fields.List(fields.Nested(BatchDeleteItem))


class BatchItemResult(_Doc):
    operation = fields.String(required=True, validate=validate.OneOf(BATCH_OPERATIONS))
    index = fields.Integer(required=True, metadata=_described("Position in its own array."))
    status = fields.Integer(required=True, metadata=_described("What its single endpoint says."))
    id = fields.String(metadata=_described("The customer's id, on success."))
    customer = fields.Nested(CustomerOut, metadata=_described("On a create, update or upsert."))
    error = fields.Nested(Problem, metadata=_described("On failure."))


class BatchResult(_Doc):
    results = fields.List(fields.Nested(BatchItemResult), required=True)
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class WishlistItemOut(_Doc):
    id = fields.String(required=True)
    productRef = fields.String(allow_none=True, required=True)
    variantRef = fields.String(allow_none=True, required=True)
    purchased = fields.Boolean(required=True)
    createdAt = _timestamp("Added at.")


class WishlistOut(_Doc):
    id = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True, required=True)
    wishlistRef = fields.String(allow_none=True, required=True)
    isPrivate = fields.Boolean(required=True)
    createdAt = _timestamp("Created at.")
    updatedAt = _timestamp("Last changed at.")
    items = fields.List(fields.Nested(WishlistItemOut), required=True)


class ImportErrorOut(_Doc):
    batchId = fields.String(required=True)
    row = fields.Integer(required=True, metadata=_described("Record number, from 1."))
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


_NAMED_BY = "Present when the sender named the customer by it."


class ExportOrderFact(_Doc):
    eventId = fields.String(required=True)
    occurredAt = _timestamp("When the fact was true (the latest one wins).")
    orderRef = fields.String(required=True)
    orderName = fields.String(required=True, allow_none=True)
    # Exactly one of the three: how the sender named the customer.
    customerId = fields.String(metadata=_described(_NAMED_BY))
    customerRef = fields.String(metadata=_described(_NAMED_BY))
    email = fields.String(metadata=_described(_NAMED_BY))
    orderDate = _timestamp("Ordered at.")
    total = fields.String(required=True, metadata=_described("Decimal string.", example="120.00"))
    refundedAmount = fields.String(required=True, metadata=_described("Decimal string."))
    currency = fields.String(required=True, metadata=_described("ISO 4217.", example="EUR"))
    status = fields.String(required=True, validate=validate.OneOf(("placed", "cancelled", "test")))


class ExportSession(_Doc):
    issuedAt = _timestamp("Issued at.")
    expiresAt = _timestamp("Expires at.")


class ExportOneTimeCode(_Doc):
    expiresAt = _timestamp("Expires at.")
    usedAt = _timestamp("Used at.", nullable=True)
    attempts = fields.Integer(required=True)


class ExportAccount(_Doc):
    username = fields.String(required=True, allow_none=True, metadata=_described("The email."))
    createdAt = _timestamp("Login created at.")
    passwordChangedAt = _timestamp("Password last set at.")
    sessions = fields.List(fields.Nested(ExportSession), required=True)
    oneTimeCodes = fields.List(fields.Nested(ExportOneTimeCode), required=True)


class CustomerExport(_Doc):
    exportedAt = _timestamp("Made at.")
    tenant = fields.String(required=True)
    customer = fields.Nested(CustomerOut, required=True)
    notes = fields.List(fields.Nested(NoteOut), required=True, metadata=_described("Oldest first."))
    wishlists = fields.List(fields.Nested(WishlistOut), required=True)
    orders = fields.List(
        fields.Nested(ExportOrderFact),
        required=True,
        metadata=_described("Every order fact of the customer, any status, oldest first."),
    )
    account = fields.Nested(
        ExportAccount,
        required=True,
        allow_none=True,
        metadata=_described("Shopper account metadata (never a hash or token), or null."),
    )
    importErrors = fields.List(
        fields.Nested(ImportErrorOut),
        required=True,
        metadata=_described("Import row errors holding this customer's email or one of its refs."),
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


# --- operation rows

_PAGE = Param(
    "page",
    "Page number, from 0 (empty: 0).",
    {"anyOf": [{"type": "integer", "minimum": 0, "default": 0}, _EMPTY]},
)
_PAGE_NUMBER = Param("pageNumber", "The POS name of page (both given must agree).", _PAGE.schema)
_PAGE_SIZE = Param(
    "pageSize",
    "Results per page, at most 500 (empty: 20).",
    {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 500, "default": 20}, _EMPTY]},
)
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
_PAGING = (_PAGE, _PAGE_NUMBER, _PAGE_SIZE, *_SORT)


def _filter(name: str) -> Param:
    if name.endswith("Since"):
        return Param(name, "ISO 8601 instant, inclusive.", _INSTANT)
    words = {
        "customerExternalId": "Exact customerRef (the POS name).",
        "email": "Exact email, any case.",
    }
    return Param(name, words.get(name, f"Exact {name}."), {"type": "string"})


_FILTERS = tuple(_filter(name) for name in FILTER_NAMES)

COLLECTION_OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", f"{_V2}/customers"): Operation(
        "List customers", CUSTOMERS, response="CustomerPage", query=(*_PAGING, *_FILTERS),
        description="A page of full customers; filters are exact and ANDed; total is exact. "
        "Incremental sync: modifiedSince=T&sortBy=lastModifiedDate.",
    ),
    ("GET", f"{_V2}/customers/count"): Operation(
        "Count customers", CUSTOMERS, response="CustomerCount", query=_FILTERS,
    ),
    ("POST", f"{_V2}/customers/search"): Operation(
        "Search customers (query)", CUSTOMERS, body="CustomerSearchRequest", body_required=False,
        response="CustomerPage", query=_PAGING,
        description="Every given criterion must match; an empty body lists everyone; vatNumber "
        "is not supported (400). With a query, total is exact up to 1,000 matches; a search "
        "matching more answers total 1,000 (every page is still served, in sort order).",
    ),
    ("POST", f"{_V2}/customers/batch"): Operation(
        "Create, update, upsert and delete customers in one request", CUSTOMERS,
        body="CustomerBatchRequest", response="CustomerBatchResult", also=(207,),
        description=f"1 to {MAX_BATCH_ITEMS} items in all, run create → update → upsert → delete, "
        "each in its own transaction and exactly like its single endpoint. 200 when every item "
        "succeeded, 207 when any failed.",
    ),
    ("GET", f"{_V2}/customers/{{}}/export"): Operation(
        "Export everything held about a customer", CUSTOMERS, response="CustomerExport",
        description="For data-subject access requests: an attachment "
        "(customer-<id>.json), never cached; 503 rather than a partial export.",
    ),
    ("GET", f"{_V2}/customers/{{}}/address"): Operation(
        "List a customer's addresses", CUSTOMERS, response="Address[]",
    ),
    ("PUT", f"{_V2}/customers/{{}}/address/{{}}"): Operation(
        "Change an address", CUSTOMERS, body="AddressRequest", response="Customer",
        description="Merges into that address (absent kept, null clears); as default it "
        "demotes the previous default. Addresses also accept addressID as their id.",
    ),
}  # fmt: skip
