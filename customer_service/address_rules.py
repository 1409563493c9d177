"""Rules of the address sub-resource (API.md §7): TWC's `addressID` alias, and merging a change
into one stored address."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ID_ALIAS = "addressID"  # TWC's documented name of the address id


def with_address_id(address: object) -> object:
    """An address with `addressID` as its `id` when it has no `id` of its own (else as sent)."""
    if isinstance(address, Mapping) and ID_ALIAS in address and address.get("id") is None:
        return {**address, "id": address[ID_ALIAS]}
    return address


def with_address_ids(customer: object) -> object:
    """A customer body whose addresses accept `addressID` as their `id`."""
    if isinstance(customer, Mapping) and isinstance(customer.get("addresses"), list):
        return {**customer, "addresses": [with_address_id(a) for a in customer["addresses"]]}
    return customer


def merge_into_address(
    addresses: list[Mapping[str, Any]], address_id: str, changes: Mapping[str, Any]
) -> list[dict[str, Any]] | None:
    """The list with `changes` merged into the address `address_id` (absent kept, null clears,
    the id kept); flagged default, it demotes the previous default. None: no such address."""
    if not any(a.get("id") == address_id for a in addresses):
        return None
    fields = {k: v for k, v in changes.items() if k not in ("id", "customerId")}
    result = []
    for stored in addresses:
        address = dict(stored)
        if address.get("id") == address_id:
            address.update(fields)
            address = {k: v for k, v in address.items() if v is not None}
            if not address.get("defaultAddress"):
                address.pop("defaultAddress", None)
        elif fields.get("defaultAddress"):
            address.pop("defaultAddress", None)
        result.append(address)
    return result
