"""customer_service's operation rows of the OpenAPI document (shared.openapi.table says what a
row holds): customers, notes, orders, TWC v1, imports, shoppers. The collection's rows are in
customer_service.openapi.collection."""

from __future__ import annotations

from customer_service.etags import ANY_VERSION, ENTITY_TAG_LIST_PATTERN
from customer_service.imports.inputs import DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE
from shared.imports.representation import BATCH_STATES
from shared.openapi.table import (
    CUSTOMERS_TAG,
    IMPORTS,
    NOTES,
    ORDERS,
    SHOPPERS,
    UUID,
    V1,
    Link,
    Operation,
    Param,
)
from shared.orders.facts import MAX_FACTS_PER_REQUEST

EMPTY = {"type": "string", "maxLength": 0}  # an empty value means the default (not given)
PAGE = Param(
    "page",
    "Page number, from 0 (empty: 0).",
    {"anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_PAGE, "default": 0}, EMPTY]},
)
PAGE_SIZE = Param(
    "pageSize",
    f"Results per page, at most {MAX_PAGE_SIZE} (empty: {DEFAULT_PAGE_SIZE}).",
    {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
             "default": DEFAULT_PAGE_SIZE},
            EMPTY,
        ]
    },
)  # fmt: skip
_BY_ID = Param("id", "The customer's id (or give customerRef).", UUID)
_BY_REF = Param("customerRef", "The customer's customerRef (empty: not given).", {"type": "string"})
_CRITERIA = tuple(
    Param(
        name,
        f"Exact {name}{' (case-insensitive)' if name == 'email' else ''}; empty is ignored.",
        {"type": "string"},
    )
    for name in ("email", "firstName", "lastName", "mobile", "phone")
)
# Empty means "any state".
_BATCH_STATE = {"type": "string", "enum": [*BATCH_STATES, ""]}
_BATCH_BY = (
    Param("batchId", "The batch's id (or give batchRef).", UUID),
    Param("batchRef", "The batch's batchRef (empty: not given).", {"type": "string"}),
)

# API.md §6: optimistic concurrency on one customer.
_ENTITY_TAGS = {
    "anyOf": [
        {"type": "string", "enum": [ANY_VERSION]},
        {"type": "string", "pattern": ENTITY_TAG_LIST_PATTERN},
    ]
}
_IF_MATCH = Param(
    "If-Match",
    "The customer's ETag as last read (or `*`): a stale one is a 412 and nothing changes.",
    _ENTITY_TAGS,
)
_IF_NONE_MATCH = Param(
    "If-None-Match", "The ETag of a copy held: unchanged → 304 without a body.", _ENTITY_TAGS
)

_V2 = "/api/v2"
_IMPORT = "/api/import"
_FOUND_BY = "Finds the customer by the body's id, else customerRef, else email."
_ID = "$response.body#/id"
_REF = "$response.body#/customerRef"
_CUSTOMER_LINKS = (
    Link("getCustomer", "GET", f"{_V2}/customers/{{}}", (_ID,)),
    Link("getCustomerByEmail", "GET", f"{_V2}/customers/{{}}/email", ("$response.body#/email",)),
    Link("getCustomerByRef", "GET", f"{_V2}/customers/{{}}/ref", (_REF,)),
    Link(
        "getCustomerByAlternateRef",
        "GET",
        f"{_V2}/customers/{{}}/alternateCustomerRef",
        ("$response.body#/alternateCustomerRef",),
    ),
    Link("updateCustomerByRef", "PUT", f"{_V2}/customers/customerRef={{}}", (_REF,)),
    Link("updateCustomer", "PUT", f"{_V2}/customers/id={{}}", (_ID,)),
    Link("addAddress", "POST", f"{_V2}/customers/{{}}/address", (_ID,)),
    Link("listNotes", "GET", f"{_V2}/customer/notes", query=(("id", _ID),)),
    Link("addNote", "POST", f"{_V2}/customer/note", body=(("customerId", _ID),)),
    Link("deleteCustomer", "DELETE", f"{_V2}/customers/{{}}", (_ID,)),
    Link("deleteCustomerByRef", "DELETE", f"{_V2}/customers/{{}}/ref", (_REF,)),
)
_NOTE_LINKS = (
    Link("getNote", "GET", f"{_V2}/customer/note/{{}}", (_ID,)),
    Link("changeNote", "PUT", f"{_V2}/customer/note", body=(("id", _ID),)),
    Link("deleteNote", "DELETE", f"{_V2}/customer/note/{{}}", (_ID,)),
    Link(
        "listNotes", "GET", f"{_V2}/customer/notes", query=(("id", "$response.body#/customerId"),)
    ),
    Link(
        "deleteNotes",
        "DELETE",
        f"{_V2}/customer/notes",
        query=(("id", "$response.body#/customerId"),),
    ),
)
_SHOPPERS = f"{_V2}/shoppers"
_SESSION = (
    Param(
        "AccessToken",
        "The shopper's session token (from /login or /login/otp).",
        {"type": "string", "minLength": 1},
        required=True,
    ),
)
_SAME_401 = (
    "Every failed login (wrong password or code, unknown user, no login, inactive, disabled or "
    "declined customer) gets the same 401 with `WWW-Authenticate: AccessToken "
    'realm="<tenant>"`; 5 failures for a username in 15 minutes → 429 with Retry-After, even '
    "for the right password. Redis down → 503."
)
_BATCH_LINKS = (
    Link("getBatch", "GET", f"{_IMPORT}/batch/{{}}", (_ID,)),
    Link("uploadFile", "POST", f"{_IMPORT}/batch/{{}}/file", (_ID,)),
    Link("listErrors", "GET", f"{_IMPORT}/batch/{{}}/errors", (_ID,)),
)

# Rules OpenAPI cannot state (Operation.unstated).
_NOT_FUTURE = "dob and memberSince are not in the future (the pattern checks the calendar only)."
_ID_OR_REF = "the query names the customer by id or customerRef (at least one, not empty)."

OPERATIONS: dict[tuple[str, str], Operation] = {
    # --- customers
    ("POST", f"{_V2}/customers"): Operation(
        "Create a customer", CUSTOMERS_TAG, 201, body="CustomerRequest", response="Customer",
        problems=(409,), links=_CUSTOMER_LINKS, unstated=_NOT_FUTURE,
        description="email is required; email, customerRef and alternateCustomerRef are unique "
        "per tenant (409 names the field).",
    ),
    ("PUT", f"{_V2}/customers"): Operation(
        "Update a customer named in the body", CUSTOMERS_TAG, body="CustomerUpdateRequest",
        response="Customer", problems=(409, 412), headers=(_IF_MATCH,), unstated=_NOT_FUTURE,
        description=f"{_FOUND_BY} Fields absent are kept; "
        "null clears; addresses replace the list; attributeGroups replace the named groups.",
    ),
    ("DELETE", f"{_V2}/customers"): Operation(
        "Delete a customer by query", CUSTOMERS_TAG, 204, query=(_BY_ID, _BY_REF),
        headers=(_IF_MATCH,), problems=(412,), unstated=_ID_OR_REF,
    ),
    ("POST", f"{_V2}/customers/validate"): Operation(
        "Validate a customer without storing it", CUSTOMERS_TAG, body="CustomerRequest",
        response="ValidationResult", unstated=_NOT_FUTURE,
    ),
    ("GET", f"{_V2}/customers/search"): Operation(
        "Search customers", CUSTOMERS_TAG, response="Customer[]", query=_CRITERIA,
        description="Every given criterion must match; at most 100 results.",
        unstated="at least one criterion is given (not empty).",
    ),
    ("PUT", f"{_V2}/customers/id={{}}"): Operation(
        "Update a customer by id", CUSTOMERS_TAG, body="CustomerUpdateRequest", response="Customer",
        problems=(409, 412), headers=(_IF_MATCH,), unstated=_NOT_FUTURE,
    ),
    ("PUT", f"{_V2}/customers/customerRef={{}}"): Operation(
        "Update a customer by customerRef", CUSTOMERS_TAG, body="CustomerUpdateRequest",
        response="Customer", problems=(409, 412), headers=(_IF_MATCH,), unstated=_NOT_FUTURE,
    ),
    ("PUT", f"{_V2}/customers/email={{}}"): Operation(
        "Update a customer by email", CUSTOMERS_TAG, body="CustomerUpdateRequest",
        response="Customer", problems=(409, 412), headers=(_IF_MATCH,), unstated=_NOT_FUTURE,
    ),
    ("GET", f"{_V2}/customers/{{}}"): Operation(
        "Get a customer by id", CUSTOMERS_TAG, response="Customer",
        headers=(_IF_NONE_MATCH,),
    ),
    ("DELETE", f"{_V2}/customers/{{}}"): Operation(
        "Delete a customer by id", CUSTOMERS_TAG, 204, headers=(_IF_MATCH,), problems=(412,),
        description="Removes the customer from every read path, frees its email and refs, "
        "de-identifies its wishlists.",
    ),
    ("GET", f"{_V2}/customers/{{}}/ref"): Operation(
        "Get a customer by customerRef", CUSTOMERS_TAG, response="Customer",
        headers=(_IF_NONE_MATCH,),
    ),
    ("DELETE", f"{_V2}/customers/{{}}/ref"): Operation(
        "Delete a customer by customerRef", CUSTOMERS_TAG, 204, headers=(_IF_MATCH,),
        problems=(412,),
    ),
    ("GET", f"{_V2}/customers/{{}}/email"): Operation(
        "Get a customer by email", CUSTOMERS_TAG, response="Customer",
        headers=(_IF_NONE_MATCH,),
    ),
    ("GET", f"{_V2}/customers/{{}}/alternateCustomerRef"): Operation(
        "Get a customer by alternateCustomerRef", CUSTOMERS_TAG, response="Customer",
        headers=(_IF_NONE_MATCH,),
    ),
    ("POST", f"{_V2}/customers/{{}}/address"): Operation(
        "Add an address", CUSTOMERS_TAG, body="AddressRequest", response="Customer",
        links=(
            Link("removeAddress", "DELETE", f"{_V2}/customers/{{}}/address/{{}}",
                 (_ID, "$response.body#/addresses/0/id")),
        ),
    ),
    ("DELETE", f"{_V2}/customers/{{}}/address/{{}}"): Operation(
        "Remove an address", CUSTOMERS_TAG, response="Customer", headers=(_IF_MATCH,),
        problems=(412,),
    ),
    ("POST", f"{_V2}/upload-customers"): Operation(
        "Import an array of customers", IMPORTS, 202, body="ImportRecord[]",
        response="Batch", location=True, links=_BATCH_LINKS[:1],
        description="Creates a READY batch the impex worker imports asynchronously.",
    ),
    # --- orders
    ("POST", f"{_V2}/order-events"): Operation(
        "Send order facts", ORDERS, 202,
        body=f"OrderFactRequest|OrderFactRequest[1..{MAX_FACTS_PER_REQUEST}]",
        response="OrderEventsAccepted",
        description="One fact or an array of 1 to 100, all validated first (400 `errors` like "
        "`0.total`), then applied: upsert by orderRef, the latest occurredAt wins, a repeated "
        "eventId changes nothing. A fact for a customer not known yet waits and counts once "
        "that customer is created or imported. The figures never move lastModifiedDate nor "
        "emit customer.updated. Opt-in scope: `clients create --scopes orders:write`.",
        unstated="each fact's refundedAmount is at most its total.",
    ),
    # --- TWC v1
    ("POST", "/api/customers"): Operation(
        "Create a customer (v1)", V1, 201, body="V1CustomerRequest", response="V1Customer",
        problems=(409,), description="state defaults to disabled. Same validation, uniqueness "
        "and events as v2; errors name v1 fields.",
    ),
    ("PUT", "/api/customers"): Operation(
        "Update a customer (v1)", V1, body="V1CustomerUpdateRequest", response="V1Customer",
        problems=(409,), description="Finds the customer by id (its customerRef), else "
        "twc_customer_id, else email; merges like v2.",
    ),
    ("GET", "/api/customers/{}"): Operation(
        "Get a customer by its v1 id (customerRef)", V1, response="V1Customer",
    ),
    ("DELETE", "/api/customers/{}"): Operation(
        "Delete a customer by its v1 id (customerRef)", V1, 204,
    ),
    ("POST", "/api/upload-customers"): Operation(
        "Import an array of v1 customers", V1, 202, body="V1ImportRecord[]",
        response="Batch", location=True, links=_BATCH_LINKS[:1],
        description="Each record translated to v2 (400 naming `0.phone` etc.), then imported "
        "by the worker as v2's upload-customers.",
    ),
    # --- notes
    ("POST", f"{_V2}/customer/note"): Operation(
        "Add a note", NOTES, 201, body="NoteCreateRequest", response="Note", links=_NOTE_LINKS,
    ),
    ("PUT", f"{_V2}/customer/note"): Operation(
        "Change a note", NOTES, body="NoteUpdateRequest", response="Note",
    ),
    ("GET", f"{_V2}/customer/note/{{}}"): Operation("Get a note", NOTES, response="Note"),
    ("DELETE", f"{_V2}/customer/note/{{}}"): Operation("Delete a note", NOTES, 204),
    ("GET", f"{_V2}/customer/notes"): Operation(
        "List a customer's notes, newest first", NOTES, response="Note[]",
        query=(_BY_ID, _BY_REF), unstated=_ID_OR_REF,
    ),
    ("DELETE", f"{_V2}/customer/notes"): Operation(
        "Delete all notes of a customer", NOTES, 204, query=(_BY_ID, _BY_REF),
        unstated=_ID_OR_REF,
    ),
    # --- imports
    ("POST", f"{_IMPORT}/batch"): Operation(
        "Create a batch", IMPORTS, 201, body="BatchCreateRequest|null", body_required=False,
        response="Batch", problems=(409,), location=True, links=_BATCH_LINKS,
    ),
    ("GET", f"{_IMPORT}/batch"): Operation(
        "List batches", IMPORTS, response="BatchPage",
        query=(
            Param("batchRef", "Only this batchRef.", {"type": "string"}),
            Param("state", "Only batches in this state.", _BATCH_STATE),
            PAGE, PAGE_SIZE,
        ),
    ),
    ("GET", f"{_IMPORT}/batch/{{}}"): Operation("Get a batch", IMPORTS, response="Batch"),
    ("POST", f"{_IMPORT}/batch/{{}}/file"): Operation(
        "Upload the batch's file", IMPORTS, 202, upload=True, response="Batch", problems=(408, 409),
        location=True,
        description="Raw body: text/csv, application/x-ndjson or a JSON array; up to 1 GiB. "
        "Received whole before it is stored: 408 when it stops arriving, 429 when the tenant "
        "already has as many uploads in progress as it may.",
    ),
    ("GET", f"{_IMPORT}/batch/{{}}/errors"): Operation(
        "List the batch's row errors", IMPORTS, response="RowErrorPage",
        query=(PAGE, PAGE_SIZE),
    ),
    ("PUT", f"{_IMPORT}/batch/state-change"): Operation(
        "Mark a batch READY (queue it) or ABORTED", IMPORTS, response="Batch", problems=(409,),
        query=(
            *_BATCH_BY,
            Param("state", "The new state.", {"type": "string", "enum": ["READY", "ABORTED"]},
                  required=True),
        ),
        unstated="the query names the batch by batchId or batchRef (at least one, not empty).",
    ),
    ("POST", f"{_IMPORT}/resource"): Operation(
        "Add records to a CREATED batch", IMPORTS, 201,
        body="ResourceRequest|ResourceRequest[1..]",
        response="ResourceAdded|ResourceAdded[]", problems=(409,),
        description="One record, or an array of them; each answer names the record's row.",
    ),
    # --- shoppers
    ("POST", f"{_SHOPPERS}/register"): Operation(
        "Register a shopper", SHOPPERS, 201, body="ShopperRegisterRequest", response="Customer",
        problems=(409,),
        description="Creates the customer (username = email) with a password of 8-128 "
        "characters, not the username. Retailer-owned customer fields are ignored. An email a "
        "live customer holds → 409 on `username` (the admin password route gives an existing "
        "customer a login).",
        unstated=f"the password is not the username (any case, trimmed); {_NOT_FUTURE}",
    ),
    ("POST", f"{_SHOPPERS}/login"): Operation(
        "Log a shopper in with a password", SHOPPERS, body="ShopperLoginRequest",
        response="ShopperLogin", description=_SAME_401,
    ),
    ("POST", f"{_SHOPPERS}/otp"): Operation(
        "Send a shopper a one-time code", SHOPPERS, 202, body="OtpRequest",
        response="OtpChallenge",
        description="Always 202, for unknown usernames too. A 6-digit code valid 5 minutes is "
        "published on exchange `shopper.notifications` (routing key `shopper.otp.requested`) "
        "for the retailer's sender. At most 1 send per 30 s and 10 per hour per username (429).",
    ),
    ("POST", f"{_SHOPPERS}/login/otp"): Operation(
        "Log a shopper in with a one-time code", SHOPPERS, body="OtpLoginRequest",
        response="ShopperLogin",
        headers=(
            Param("otptoken", "The challenge from POST /otp.", {"type": "string"}, required=True),
        ),
        description=f"A code works once, and dies after 5 wrong attempts. {_SAME_401}",
    ),
    ("POST", f"{_SHOPPERS}/logout"): Operation(
        "End the shopper's session", SHOPPERS, 204, headers=_SESSION,
        description="Idempotent: an ended or unknown session is already logged out.",
    ),
    ("GET", f"{_SHOPPERS}/session"): Operation(
        "Check a shopper session", SHOPPERS, response="ShopperSession",
        headers=(Param("AccessToken", "The session token to check.", {"type": "string"}),),
        description="200 `{\"SessionValid\": false}` for an unknown, ended or expired session.",
    ),
    ("GET", f"{_SHOPPERS}/me"): Operation(
        "The shopper's own customer", SHOPPERS, response="Customer", headers=_SESSION,
    ),
    ("PUT", f"{_SHOPPERS}/me"): Operation(
        "Update the shopper's own customer", SHOPPERS, body="ShopperProfile",
        response="Customer", headers=_SESSION,
        description="Merges like PUT /customers, but never writes email, customerRef, "
        "alternateCustomerRef, customer_state, active, verified_email, vipStatus, loyaltyTier, "
        "spendToNextTier or memberSince (ignored).",
        unstated=_NOT_FUTURE,
    ),
    ("PUT", f"{_SHOPPERS}/me/password"): Operation(
        "Change the shopper's password", SHOPPERS, 204, body="PasswordChangeRequest",
        headers=_SESSION,
        description="The current password is required (wrong → 403, counted as a failed "
        "login); every other session of the shopper ends.",
    ),
    ("GET", f"{_SHOPPERS}/me/address"): Operation(
        "The shopper's addresses", SHOPPERS, response="Address[]", headers=_SESSION,
    ),
    ("POST", f"{_SHOPPERS}/me/address"): Operation(
        "Add an address to the shopper's own customer", SHOPPERS, body="AddressRequest",
        response="Customer", headers=_SESSION,
        links=(
            Link("updateMyAddress", "PUT", f"{_SHOPPERS}/me/address/{{}}",
                 ("$response.body#/addresses/0/id",)),
            Link("removeMyAddress", "DELETE", f"{_SHOPPERS}/me/address/{{}}",
                 ("$response.body#/addresses/0/id",)),
        ),
    ),
    ("PUT", f"{_SHOPPERS}/me/address/{{}}"): Operation(
        "Update one of the shopper's addresses", SHOPPERS, body="AddressRequest",
        response="Customer", headers=_SESSION,
        description="Merges into the address; flagged default, it demotes the previous one.",
    ),
    ("DELETE", f"{_SHOPPERS}/me/address/{{}}"): Operation(
        "Remove one of the shopper's addresses", SHOPPERS, response="Customer", headers=_SESSION,
    ),
    ("PUT", f"{_SHOPPERS}/{{}}/password"): Operation(
        "Set a customer's password (admin)", SHOPPERS, 204, body="AdminPasswordRequest",
        description="Gives the customer a login if it had none; ends all its sessions.",
    ),
    ("DELETE", f"{_SHOPPERS}/{{}}/sessions"): Operation(
        "End every session of a customer (admin)", SHOPPERS, 204,
    ),
}  # fmt: skip
