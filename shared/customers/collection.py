"""The vocabulary of the customer collection (API.md §7, §8) that customer_service enforces and
the gateway's OpenAPI document states: sortable fields, filter names, the query length and the
batch sections. Defined once here so neither package imports the other."""

from __future__ import annotations

# API sort name → the column the (tenant_id, column, id) index of 0009 orders by.
SORT_COLUMNS = {
    "createdDate": "created_at",
    "lastModifiedDate": "last_modified_at",
    "email": "email_lower",
    "firstName": "first_name",
    "lastName": "last_name",
    "customerRef": "customer_ref",
}
DEFAULT_SORT = "createdDate"

# The exact filters of GET /customers and /customers/count, in the order they are documented.
FILTER_NAMES = (
    "customerRef", "alternateCustomerRef", "email", "firstName", "lastName", "mobile", "phone",
    "customerExternalId", "createdSince", "modifiedSince",
)  # fmt: skip

MAX_QUERY_LENGTH = 255

# POST /customers/batch: the sections in processing order (API.md §8), and the items in all.
BATCH_OPERATIONS = ("create", "update", "upsert", "delete")
MAX_BATCH_ITEMS = 100
