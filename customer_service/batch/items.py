"""What POST /customers/batch accepts, and how an item names its customer. Pure rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from customer_service.service import Identifier
from shared.errors import InvalidInput

# The processing order of the sections (API.md §8).
OPERATIONS = ("create", "update", "upsert", "delete")
MAX_ITEMS = 100


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
    if isinstance(item, Mapping):
        for kind in ("id", "customerRef", "email"):
            value = item.get(kind)
            if isinstance(value, str) and value:
                return Identifier(kind, value)
    return None


def delete_identifier(item: object) -> Identifier:
    """A delete item: `{"id"}` or `{"customerRef"}`."""
    if isinstance(item, Mapping):
        for kind in ("id", "customerRef"):
            value = item.get(kind)
            if isinstance(value, str) and value:
                return Identifier(kind, value)
    raise InvalidInput(
        "Name the customer to delete by id or customerRef.",
        errors={"id": ["One of id or customerRef is required."]},
    )
