"""Stored customer rows to and from the API representation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.customers.rules import (
    ADDRESS_FIELDS,
    COLUMN_FIELDS,
    CUSTOMER_DEFAULTS,
    default_address,
    effective_address,
    effective_optins,
)
from shared.orders.spend import NO_SPEND
from shared.timefmt import iso_ms

_PROFILE_FIELDS = (
    "dob", "customer_state", "active", "verified_email", "taxExempt", "taxExemptions", "location",
    "vipStatus", "loyaltyTier", "spendToNextTier", "joinedStoreId", "memberSince",
    "accepts_marketing", "marketing_optin_level", "marketing_preferences_updated_at",
)  # fmt: skip


def split_state(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(column values keyed by column name, the jsonb profile) of a customer state."""
    columns = {column: state.get(field) for field, column in COLUMN_FIELDS.items()}
    profile = {k: v for k, v in state.items() if k not in COLUMN_FIELDS and v is not None}
    return columns, profile


def state_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The stored state (API field names) of a customer row; absent fields are left out."""
    state = dict(record["profile"])
    for field, column in COLUMN_FIELDS.items():
        if record[column] is not None:
            state[field] = record[column]
    return state


def render_customer(
    record: Mapping[str, Any], spend: Mapping[str, Any] = NO_SPEND
) -> dict[str, Any]:
    """The full customer representation of API.md §3, every field present; `spend` holds the
    computed fields of §11 (shared.orders.service.spend_of).

    It renders `effective_customer(state_from_record(record))` (the rules' meaning of a stored
    customer), built straight from the row: a page of customers renders twenty of these, and
    the intermediate states were most of their cost."""
    profile = record["profile"]
    get = profile.get
    customer_id = str(record["id"])
    body: dict[str, Any] = {"id": customer_id}
    for field, column in COLUMN_FIELDS.items():
        value = record[column]
        body[field] = get(field) if value is None else value
    for field in _PROFILE_FIELDS:
        body[field] = get(field)
    for field, default in CUSTOMER_DEFAULTS.items():
        if body[field] is None:
            body[field] = default
    body["taxExemptions"] = list(get("taxExemptions") or ())
    body["optin_preferences"] = effective_optins(get("optin_preferences"))
    body["attributeGroups"] = dict(get("attributeGroups") or {})
    addresses = [render_address(a, customer_id) for a in get("addresses") or ()]
    body["addresses"] = addresses
    body["defaultAddress"] = default_address(addresses)
    body["deleted"] = bool(record["deleted"])
    body["createdDate"] = iso_ms(record["created_at"])
    body["lastModifiedDate"] = iso_ms(record["last_modified_at"])
    body.update(spend)
    return body


def render_address(address: Mapping[str, Any], customer_id: str) -> dict[str, Any]:
    """Every address field of API.md §3 in its order, null when unset."""
    stored = effective_address(address)
    return {
        field: customer_id if field == "customerId" else stored[field] for field in ADDRESS_FIELDS
    }
