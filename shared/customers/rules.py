"""Pure rules of the customer representation: merge semantics, server-owned timestamps,
address identity and the default address. No I/O here, so the API and the importer share it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.timefmt import iso_ms

MAX_ADDRESSES = 50
OPTIN_CHANNELS = ("email", "sms")
# Fields PostgreSQL keeps in their own columns (unique keys and search criteria).
COLUMN_FIELDS = {
    "customerRef": "customer_ref",
    "alternateCustomerRef": "alternate_customer_ref",
    "email": "email",
    "firstName": "first_name",
    "lastName": "last_name",
    "mobile": "mobile",
    "phone": "phone",
}
# What a customer has where nothing is stored (API.md §3).
CUSTOMER_DEFAULTS: dict[str, Any] = {"customer_state": "enabled", "active": True}
# Every address field of API.md §3, in its order. `customerId` is the owner's id: rendered, never
# stored; the others are stored only when set.
ADDRESS_FIELDS = (
    "id", "addressRef", "addressName", "address1", "address2", "city", "company", "country",
    "countryCode", "province", "provinceCode", "postcode", "phone", "email", "firstName",
    "lastName", "name", "customerId", "defaultAddress",
)  # fmt: skip
_MARKETING_FIELDS = ("accepts_marketing", "marketing_optin_level")
_ALL_CHANNELS_OFF = {channel: {"opt_in_active": False} for channel in OPTIN_CHANNELS}
# Address fields compared to decide that a sent address "is" a stored one.
_ADDRESS_IDENTITY_IGNORES = frozenset({"id", "defaultAddress", "customerId"})


def merge_customer(
    current: Mapping[str, Any], changes: Mapping[str, Any], *, now: datetime
) -> dict[str, Any]:
    """The customer state after applying validated `changes` (absent kept, None clears).

    `current` is a stored state ({} for a new customer). Both use the API's field names. When
    the merge changes nothing a client can see (e.g. it only sends defaults or a GET body back),
    `current` itself comes back, so callers that compare states write nothing.
    """
    state = dict(current)
    for field, value in changes.items():
        if field in ("addresses", "attributeGroups", "optin_preferences"):
            continue
        if value is None:
            state.pop(field, None)
        else:
            state[field] = value
    if "addresses" in changes:
        # null clears the list like []; a list replaces it.
        addresses = merge_addresses(current.get("addresses") or [], changes["addresses"] or [])
        _set_or_drop(state, "addresses", addresses)
    if "attributeGroups" in changes:
        groups = changes["attributeGroups"]
        merged = (
            {} if groups is None else merge_attribute_groups(current.get("attributeGroups"), groups)
        )
        _set_or_drop(state, "attributeGroups", merged)
    if "optin_preferences" in changes:
        # null opts out of every channel, with the usual server-owned timestamps.
        wanted = changes["optin_preferences"] or _ALL_CHANNELS_OFF
        state["optin_preferences"] = merge_optins(current.get("optin_preferences"), wanted, now=now)
    if any(current.get(f) != state.get(f) for f in _MARKETING_FIELDS):
        state["marketing_preferences_updated_at"] = iso_ms(now)
    if current and same_customer(current, state):
        return dict(current)
    return state


def same_customer(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether two stored states are the same customer to a client (so a change to `after`
    needs no write, no new lastModifiedDate and no event)."""
    return effective_customer(before) == effective_customer(after)


def effective_customer(state: Mapping[str, Any]) -> dict[str, Any]:
    """What a stored state means: defaults filled in, null and empty collections the same as
    absent, both opt-in channels and every address field present. The representation renders
    this, so states with equal effective customers render alike."""
    effective = {field: value for field, value in state.items() if value is not None}
    for field, default in CUSTOMER_DEFAULTS.items():
        effective.setdefault(field, default)
    effective["taxExemptions"] = list(state.get("taxExemptions") or [])
    effective["attributeGroups"] = dict(state.get("attributeGroups") or {})
    effective["optin_preferences"] = effective_optins(state.get("optin_preferences"))
    effective["addresses"] = [effective_address(a) for a in state.get("addresses") or []]
    return effective


def effective_optins(optins: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Both channels, always; inactive with null timestamps by default."""
    result = {}
    for channel in OPTIN_CHANNELS:
        stored = (optins or {}).get(channel) or {}
        result[channel] = {
            "opt_in_active": bool(stored.get("opt_in_active", False)),
            "opted_in_at": stored.get("opted_in_at"),
            "opt_in_updated_at": stored.get("opt_in_updated_at"),
        }
    return result


def effective_address(address: Mapping[str, Any]) -> dict[str, Any]:
    """Every stored address field (all of ADDRESS_FIELDS but `customerId`), null when unset."""
    effective = {f: address.get(f) for f in ADDRESS_FIELDS if f != "customerId"}
    effective["defaultAddress"] = bool(address.get("defaultAddress"))
    return effective


def _set_or_drop(state: dict[str, Any], field: str, value: Any) -> None:
    if value:
        state[field] = value
    else:
        state.pop(field, None)


def merge_attribute_groups(
    current: Mapping[str, Any] | None, changes: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Named groups are replaced, a group set to None is removed, other groups are kept."""
    groups = dict(current or {})
    for name, group in (changes or {}).items():
        if group is None:
            groups.pop(name, None)
        else:
            groups[name] = group
    return groups


def merge_optins(
    current: Mapping[str, Any] | None, changes: Mapping[str, Any] | None, *, now: datetime
) -> dict[str, Any]:
    """Opt-ins with server-owned timestamps: `opted_in_at` when first active,
    `opt_in_updated_at` whenever `opt_in_active` changes."""
    result: dict[str, Any] = {}
    stamp = iso_ms(now)
    for channel in OPTIN_CHANNELS:
        before = dict((current or {}).get(channel) or {})
        wanted = (changes or {}).get(channel)
        after = dict(before)
        if wanted is not None and "opt_in_active" in wanted:
            active = bool(wanted["opt_in_active"])
            if active != bool(before.get("opt_in_active", False)):
                after["opt_in_updated_at"] = stamp
                if active and not before.get("opted_in_at"):
                    after["opted_in_at"] = stamp
            after["opt_in_active"] = active
        if after:
            result[channel] = after
    return result


def merge_addresses(
    current: list[Mapping[str, Any]], sent: list[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The new address list: ids kept for addresses that carry a stored id or equal a stored
    address field for field; new ids otherwise; at most one default (the last one flagged)."""
    by_id = {a["id"]: a for a in current if a.get("id")}
    taken: set[str] = set()
    result: list[dict[str, Any]] = []
    for address in sent:
        fields = _address_fields(address)
        address_id = address.get("id")
        if address_id not in by_id or address_id in taken:
            address_id = _same_address_id(current, fields, taken) or str(uuid.uuid4())
        taken.add(address_id)
        result.append({"id": address_id, **fields})
    return with_single_default(result)


def _address_fields(address: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a sent address to store: set ones only (null is unset), no ids."""
    return {k: v for k, v in address.items() if k not in ("id", "customerId") and v is not None}


def _same_address_id(
    current: list[Mapping[str, Any]], fields: Mapping[str, Any], taken: set[str]
) -> str | None:
    wanted = _identity(fields)
    for stored in current:
        if stored.get("id") not in taken and _identity(stored) == wanted:
            return stored["id"]
    return None


def _identity(address: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in address.items() if k not in _ADDRESS_IDENTITY_IGNORES and v is not None
    }


def with_single_default(addresses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep `defaultAddress: true` on the last flagged address only."""
    flagged = [i for i, a in enumerate(addresses) if a.get("defaultAddress")]
    keep = flagged[-1] if flagged else None
    for index, address in enumerate(addresses):
        if index == keep:
            address["defaultAddress"] = True
        else:
            address.pop("defaultAddress", None)
    return addresses


def add_address(current: list[Mapping[str, Any]], address: Mapping[str, Any]) -> list[dict]:
    """The list after adding one address; flagged default, it demotes the previous default."""
    fields = _address_fields(address)
    existing = [dict(a) for a in current]
    if fields.get("defaultAddress"):
        for stored in existing:
            stored.pop("defaultAddress", None)
    existing.append({"id": str(uuid.uuid4()), **fields})
    return with_single_default(existing)


def default_address(addresses: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The flagged default address, else the first one, else None."""
    for address in addresses:
        if address.get("defaultAddress"):
            return address
    return addresses[0] if addresses else None


def update_address(
    current: list[Mapping[str, Any]], address_id: str, changes: Mapping[str, Any]
) -> list[dict[str, Any]] | None:
    """The list after merging `changes` into the address `address_id` (absent kept, null
    clears; flagged default, it demotes the previous default), or None if there is no such
    address."""
    if not any(a.get("id") == address_id for a in current):
        return None
    result = []
    promote = bool(changes.get("defaultAddress"))
    for stored in current:
        address = dict(stored)
        if address.get("id") == address_id:
            for field, value in changes.items():
                if field not in ("id", "customerId"):
                    _set_or_drop(address, field, value)
        elif promote:
            address.pop("defaultAddress", None)
        result.append(address)
    return with_single_default(result)
