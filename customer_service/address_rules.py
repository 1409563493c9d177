"""TWC's `addressID` alias of the address `id` on input (API.md §7). Merging a change into one
address is customer_service.rules.update_address."""

from __future__ import annotations

from collections.abc import Mapping

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
