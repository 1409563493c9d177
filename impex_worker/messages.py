"""The events impex_worker consumes, parsed from JSON into frozen dataclasses.

Only what a handler uses is read; every other field is ignored (tolerant reader). A body that
cannot be parsed raises `InvalidMessage`, whose text never echoes the body (no personal data).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from customer_service.orders.facts import InvalidFact, OrderFact, parse_event
from shared.amqp import CUSTOMER_DELETED, ORDER_UPSERTED
from shared.identifiers import is_tenant_id

MAX_EVENT_ID_LENGTH = 128


class InvalidMessage(ValueError):
    """The body is not a well-formed event: it can never be handled."""


@dataclass(frozen=True, slots=True)
class CustomerDeleted:
    """A customer was deleted: their wishlists in `tenant` must be de-identified."""

    event_id: str | None
    tenant: str
    customer_id: uuid.UUID


def parse_customer_deleted(body: bytes) -> CustomerDeleted:
    """Parse a `customer.deleted` body (API.md §5); raise `InvalidMessage` when it is malformed."""
    event = _json_object(body)
    event_type = event.get("type", CUSTOMER_DELETED)
    if event_type != CUSTOMER_DELETED:
        raise InvalidMessage(f"type is not {CUSTOMER_DELETED}")
    tenant = event.get("tenant")
    if not is_tenant_id(tenant):
        raise InvalidMessage("tenant is missing or not a tenant id")
    customer = event.get("customer")
    if not isinstance(customer, dict):
        raise InvalidMessage("customer is missing or not an object")
    return CustomerDeleted(
        event_id=_event_id(event.get("eventId")),
        tenant=tenant,
        customer_id=_uuid(customer.get("id"), "customer.id"),
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidMessage("body is not JSON") from None
    if not isinstance(event, dict):
        raise InvalidMessage("body is not a JSON object")
    return event


def _event_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_EVENT_ID_LENGTH:
        raise InvalidMessage("eventId is not a string of 1-128 characters")
    return value


def _uuid(value: object, field: str) -> uuid.UUID:
    if not isinstance(value, str):
        raise InvalidMessage(f"{field} is missing or not a string")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidMessage(f"{field} is not a UUID") from None


@dataclass(frozen=True, slots=True)
class OrderUpserted:
    """An order fact (API.md §11) for `tenant`."""

    tenant: str
    fact: OrderFact


def parse_order_upserted(body: bytes) -> OrderUpserted:
    """Parse an `order.upserted` body; `InvalidMessage` names every invalid field (never a
    value)."""
    event = _json_object(body)
    if event.get("type", ORDER_UPSERTED) != ORDER_UPSERTED:
        raise InvalidMessage(f"type is not {ORDER_UPSERTED}")
    tenant = event.get("tenant")
    if not is_tenant_id(tenant):
        raise InvalidMessage("tenant is missing or not a tenant id")
    try:
        fact = parse_event(
            event.get("order"), event_id=event.get("eventId"), occurred_at=event.get("occurredAt")
        )
    except InvalidFact as exc:
        reasons = "; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in exc.errors.items())
        raise InvalidMessage(f"invalid order fact ({reasons})") from None
    return OrderUpserted(tenant=tenant, fact=fact)
