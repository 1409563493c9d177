"""The customers table as every writer of it sees it (customer_service's repository and the
import's set-based writes)."""

from __future__ import annotations

CUSTOMER_COLUMNS = """
    id, customer_ref, alternate_customer_ref, email, first_name, last_name, mobile, phone,
    profile, deleted, created_at, last_modified_at
"""

# Which unique index means which field (a 409 body, an import row error).
UNIQUE_INDEX_FIELDS = {
    "customers_email_key": "email",
    "customers_customer_ref_key": "customerRef",
    "customers_alternate_customer_ref_key": "alternateCustomerRef",
}


def unique_field(constraint_name: str | None) -> str:
    """The field a unique-index violation is about."""
    return UNIQUE_INDEX_FIELDS.get(constraint_name or "", "id")
