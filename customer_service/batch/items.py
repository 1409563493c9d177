"""What POST /customers/batch accepts, and how an item names its customer. Pure rules."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from customer_service.service import Identifier, first_identifier
from shared.customers.collection import BATCH_OPERATIONS, MAX_BATCH_ITEMS
from shared.errors import InvalidInput

# The processing order of the sections (API.md §8) and the items in all.
OPERATIONS = BATCH_OPERATIONS
MAX_ITEMS = MAX_BATCH_ITEMS


def sections_of(body: object) -> dict[str, list[Any]]:
    """The body's sections in processing order; 400 unless an object of arrays with 1 to 100
    items in all."""
    if not isinstance(body, Mapping):
        raise InvalidInput("Expected a JSON object.", errors={"_body": ["Expected an object."]})
    errors = {
        name: ["Must be an array."]
        for name in OPERATIONS
        if body.get(name) is not None and not isinstance(body[name], list)
    }
    if errors:
        raise InvalidInput("The batch is not valid.", errors=errors)
    sections = {name: body.get(name) or [] for name in OPERATIONS}
    if not 1 <= sum(len(items) for items in sections.values()) <= MAX_ITEMS:
        raise InvalidInput(
            f"A batch holds 1 to {MAX_ITEMS} items in all.",
            errors={"_body": [f"Give 1 to {MAX_ITEMS} items across {', '.join(OPERATIONS)}."]},
        )
    return sections


def upsert_identifier(item: object) -> Identifier | None:
    """How an upsert item names its customer: id, else customerRef, else email; None: nobody."""
    return first_identifier(item, ("id", "customerRef", "email"))


def delete_identifier(item: object) -> Identifier:
    """A delete item: `{"id"}` or `{"customerRef"}`."""
    identifier = first_identifier(item, ("id", "customerRef"))
    if identifier is not None:
        return identifier
    raise InvalidInput(
        "Name the customer to delete by id or customerRef.",
        errors={"id": ["One of id or customerRef is required."]},
    )


# A value that can tie two items to one customer: ("id" | "customerRef" |
# "alternateCustomerRef" | "email", normalised value).
Key = tuple[str, str]
KEY_FIELDS = ("id", "customerRef", "alternateCustomerRef", "email")


def key_values(kind: str, value: str) -> set[Key]:
    """The keys of one identifier or unique value as any item might spell it (ids as UUIDs,
    emails lower-cased, both also stripped): over-matching only joins more items together."""
    spellings = {value, value.strip()}
    if kind == "email":
        spellings |= {s.lower() for s in spellings}
    elif kind == "id":
        for spelling in list(spellings):
            with contextlib.suppress(ValueError):
                spellings.add(str(uuid.UUID(spelling)))
    return {(kind, spelling) for spelling in spellings}


def item_keys(item: object) -> set[Key]:
    """Every key an item names a customer by or gives a customer (whatever its operation)."""
    keys: set[Key] = set()
    if isinstance(item, Mapping):
        for kind in KEY_FIELDS:
            value = item.get(kind)
            if isinstance(value, str) and value:
                keys |= key_values(kind, value)
    return keys


def dependent_groups(
    items: Sequence[object], customers: Iterable[Mapping[str, Any]] = ()
) -> list[list[int]]:
    """The items (by position in processing order) split into groups that cannot see each
    other: two items share a group when they share a key, directly or through a stored
    customer (`customers`: rows of id, customerRef, alternateCustomerRef, email holding any of
    the items' keys; one customer's keys all belong together). Within a group the positions
    keep processing order; groups are in order of their first item.

    Items of different groups name different customers and set different unique values, so
    running the groups side by side gives each item the answer it gets in processing order."""
    parent: dict[Key, Key] = {}

    def root(key: Key) -> Key:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def join(keys: Iterable[Key]) -> None:
        keys = list(keys)
        for key in keys[1:]:
            parent[root(key)] = root(keys[0])

    per_item = [item_keys(item) for item in items]
    for keys in per_item:
        join(keys)
    for customer in customers:
        join(
            key
            for kind in KEY_FIELDS
            if isinstance(customer.get(kind), str) and customer[kind]
            for key in key_values(kind, customer[kind])
        )
    groups: dict[object, list[int]] = {}
    for position, keys in enumerate(per_item):
        label: object = root(next(iter(keys))) if keys else ("item", position)
        groups.setdefault(label, []).append(position)
    return list(groups.values())
