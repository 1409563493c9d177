"""Order use cases both services share: apply facts (from HTTP or the queue), attach waiting
facts to a customer who appears, and read a customer's figures. Each write runs in the caller's
tenant transaction or opens one, and rewrites the figures of every customer it touched in it.

Facts never touch the customer row: no `lastModifiedDate`, no `customer.updated`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from shared.db import tenant_transaction
from shared.orders import repository
from shared.orders.facts import OrderFact
from shared.orders.spend import render_fact, spend_fields

RUNNING_WINDOW = timedelta(days=365)


async def apply_facts(pool: asyncpg.Pool, tenant: str, facts: Sequence[OrderFact]) -> int:
    """Store the facts in one transaction; returns how many changed anything (a duplicate
    eventId or an older occurredAt does not)."""
    async with tenant_transaction(pool, tenant) as conn:
        return await apply_facts_in(conn, tenant, facts)


async def apply_facts_in(conn: asyncpg.Connection, tenant: str, facts: Sequence[OrderFact]) -> int:
    touched: set[uuid.UUID] = set()
    applied = 0
    for fact in facts:
        if not await repository.mark_seen(conn, tenant, fact.event_id):
            continue
        customer_id = await repository.resolve_customer(
            conn, tenant, fact.customer_kind, fact.customer_key
        )
        changed = await repository.upsert_fact(conn, tenant, fact, customer_id)
        touched.update(changed)
        applied += 1
    await repository.recompute_totals(conn, tenant, touched)
    return applied


async def attach_waiting_facts(
    conn: asyncpg.Connection, tenant: str, refs: Sequence[str], emails: Sequence[str]
) -> None:
    """Facts that named a customer by one of these refs or emails before the customer existed
    now count for them. Set-based: one call per created customer or import chunk."""
    attached = await repository.attach_pending(conn, tenant, refs, emails)
    await repository.recompute_totals(conn, tenant, attached)


async def recompute_for(
    conn: asyncpg.Connection, tenant: str, customer_ids: Sequence[uuid.UUID]
) -> None:
    """Rewrite these customers' figures from their facts (after facts were attached to them)."""
    await repository.recompute_totals(conn, tenant, customer_ids)


async def spend_of(
    conn: asyncpg.Connection, tenant: str, customer_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, dict[str, Any]]:
    """The computed fields of each customer (all null for one without placed orders)."""
    totals = await repository.fetch_totals(conn, tenant, customer_ids, now - RUNNING_WINDOW)
    return {cid: spend_fields(totals.get(cid), now) for cid in customer_ids}


def window_since(now: datetime) -> tuple[datetime, datetime, str]:
    """The running spend's window at `now`, as the statements reading figures take it."""
    return repository.spend_window(now - RUNNING_WINDOW)


def spend_of_row(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The computed fields from a row carrying a customer's figures beside its columns
    (customer.live_customer_with_spend: all null while it has no placed order)."""
    return spend_fields(row if row["total_orders"] is not None else None, now)


async def totals_of(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID, now: datetime
) -> asyncpg.Record | None:
    """The raw totals row of one customer (v1 renders it its own way)."""
    totals = await repository.fetch_totals(conn, tenant, [customer_id], now - RUNNING_WINDOW)
    return totals.get(customer_id)


async def facts_of(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID
) -> list[dict[str, Any]]:
    """Every fact that counts for the customer (any status), oldest order first."""
    rows = await repository.facts_of_customer(conn, tenant, customer_id)
    return [render_fact(row) for row in rows]


async def delete_of_customer(conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID) -> None:
    await repository.delete_of_customer(conn, tenant, customer_id)
