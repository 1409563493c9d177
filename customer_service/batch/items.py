"""What POST /customers/batch accepts, and how an item names its customer. Pure rules."""

from __future__ import annotations

from collections.abc import Mapping
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
