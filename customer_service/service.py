"""Customer use cases. Each opens one tenant transaction, applies the rules, writes the change
and its outbox event, and commits once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from customer_service import repository
from customer_service.events import customer_event
from customer_service.representation import render_customer, split_state
from customer_service.rules import merge_customer
from shared.amqp import CUSTOMER_CREATED, CUSTOMER_DELETED
from shared.db import tenant_transaction
from shared.errors import InvalidInput, NotFound
from shared.schemas import CustomerValidationError, load_customer
from shared.timefmt import utcnow


def parse_customer_id(raw: str) -> uuid.UUID:
    """A path id that is not a UUID names no customer: 404, like any unknown id."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("No such customer.") from None


def validate_customer(body: object, *, partial: bool = False) -> dict[str, Any]:
    """The shared schema's verdict as a 400 naming every invalid field."""
    try:
        return load_customer(body, partial=partial)
    except CustomerValidationError as exc:
        raise InvalidInput("The customer is not valid.", errors=exc.errors) from None


class CustomerService:
    def __init__(self, pool: asyncpg.Pool, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._pool = pool
        self._clock = clock

    async def create(self, tenant: str, body: object) -> dict[str, Any]:
        changes = validate_customer(body)
        now = self._clock()
        columns, profile = split_state(merge_customer({}, changes, now=now))
        async with tenant_transaction(self._pool, tenant) as conn:
            record = await repository.insert_customer(
                conn, tenant, uuid.uuid4(), columns, profile, now
            )
            await repository.add_outbox_event(
                conn,
                tenant,
                customer_event(CUSTOMER_CREATED, tenant=tenant, record=record, now=now),
            )
        return render_customer(record)

    async def get_by_id(self, tenant: str, raw_id: str) -> dict[str, Any]:
        customer_id = parse_customer_id(raw_id)
        async with tenant_transaction(self._pool, tenant) as conn:
            record = await repository.fetch_by_id(conn, tenant, customer_id)
        if record is None:
            raise NotFound("No such customer.")
        return render_customer(record)

    async def delete_by_id(self, tenant: str, raw_id: str) -> None:
        customer_id = parse_customer_id(raw_id)
        now = self._clock()
        async with tenant_transaction(self._pool, tenant) as conn:
            deleted = await repository.soft_delete(conn, tenant, customer_id, now)
            if deleted is None:
                raise NotFound("No such customer.")
            await repository.add_outbox_event(
                conn,
                tenant,
                customer_event(CUSTOMER_DELETED, tenant=tenant, record=deleted, now=now),
            )
