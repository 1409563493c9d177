"""The outbox relay claims by priority: an import's per-row events (priority 1) never hold up a
deleted customer or a queued batch (priority 0). Real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aio_pika
import asyncpg
import orjson
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from customer_service import repository
from customer_service.outbox_metrics import sample_outbox
from customer_service.outbox_relay import CLAIM_UNSENT, relay_once
from shared.amqp import (
    CUSTOMER_CREATED,
    CUSTOMER_DELETED,
    CUSTOMER_EVENTS_EXCHANGE,
    Publisher,
    declare_topology,
)
from shared.app_keys import DB_POOL
from shared.customers.events import customer_event
from shared.db import create_pool
from shared.imports import chunks as import_repository
from shared.settings import Settings

BACKLOG = 3_000
BATCH = 500  # smaller than the backlog: the order of claims shows
NOW = datetime(2024, 5, 19, 3, 48, 22, tzinfo=UTC)


@pytest.fixture
async def pool(test_settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(test_settings.database_url, min_size=0)
    yield pool
    await pool.close()


@pytest.fixture
async def publisher(test_settings: Settings) -> AsyncIterator[Publisher]:
    publisher = Publisher(test_settings.amqp_url)
    yield publisher
    await publisher.close()


@pytest.fixture
async def events_queue(test_settings: Settings) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """An exclusive queue bound to every customer event, in the test vhost."""
    connection = await aio_pika.connect_robust(test_settings.amqp_url)
    channel = await connection.channel()
    await declare_topology(channel)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(await channel.get_exchange(CUSTOMER_EVENTS_EXCHANGE), routing_key="customer.*")
    yield queue
    await connection.close()


def _event(event_type: str, tenant: str, n: int) -> dict:
    record = {"id": uuid.uuid4(), "customer_ref": f"R-{n}", "alternate_customer_ref": None}
    return customer_event(event_type, tenant=tenant, record=record, now=NOW)


async def _import_backlog(pool: asyncpg.Pool, tenant: str, count: int) -> None:
    """As an import writes them: the chunk's events with the importer's own COPY."""
    events = [_event(CUSTOMER_CREATED, tenant, n) for n in range(count)]
    async with pool.acquire() as conn, conn.transaction():
        await import_repository.add_events(conn, tenant, events)


async def _drain(pool: asyncpg.Pool, publisher: Publisher) -> None:
    """Publish whatever earlier tests left unsent, so only this test's rows wait."""
    while await relay_once(pool, publisher, batch_size=5_000) > 0:
        pass


async def _forget(pool: asyncpg.Pool, tenant: str) -> None:
    """Mark the tenant's rows sent: later tests' relays need not publish them."""
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE customer.outbox SET sent_at = now() WHERE tenant_id = $1 AND sent_at IS NULL",
            tenant,
        )


async def _published_of(queue: aio_pika.abc.AbstractQueue, tenant: str) -> list[dict]:
    """Every event of `tenant` the queue holds now (the relay returns after the confirms)."""
    found = []
    while (message := await queue.get(fail=False, timeout=5)) is not None:
        await message.ack()
        body = orjson.loads(message.body)
        if body["tenant"] == tenant:
            found.append(body)
    return found


async def test_a_deletion_overtakes_an_import_backlog(pool, publisher, events_queue, unique_tenant):
    """With 3,000 import events waiting, a customer.deleted committed after them is published
    in the relay's very first batch; the backlog follows in order."""
    await _drain(pool, publisher)
    await _import_backlog(pool, unique_tenant, BACKLOG)
    deleted = _event(CUSTOMER_DELETED, unique_tenant, BACKLOG)
    async with pool.acquire() as conn, conn.transaction():
        await repository.add_outbox_event(conn, unique_tenant, deleted)
    try:
        assert await relay_once(pool, publisher, batch_size=BATCH) == BATCH
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT routing_key, priority, sent_at IS NOT NULL AS sent FROM customer.outbox "
                "WHERE tenant_id = $1 ORDER BY id",
                unique_tenant,
            )
        first = await _published_of(events_queue, unique_tenant)
    finally:
        await _forget(pool, unique_tenant)
    *backlog, last = rows
    assert (last["routing_key"], last["priority"], last["sent"]) == (CUSTOMER_DELETED, 0, True)
    assert {row["priority"] for row in backlog} == {1}
    # The rest of the batch: the oldest of the backlog, nothing newer.
    assert [row["sent"] for row in backlog] == [True] * (BATCH - 1) + [False] * (
        BACKLOG - BATCH + 1
    )
    assert len(first) == BATCH
    assert deleted["eventId"] in {event["eventId"] for event in first}


async def test_claim_walks_the_unsent_index_in_priority_order(pool, unique_tenant):
    """The claim reads the partial (priority, id) index and stops at its limit: no scan of the
    outbox, no sort of the backlog, whatever its size (custom and generic plan)."""
    await _import_backlog(pool, unique_tenant, BACKLOG)
    try:
        async with pool.acquire() as conn:
            await conn.execute("ANALYZE customer.outbox")
            async with conn.transaction():
                await conn.execute(f"PREPARE claim_check AS {CLAIM_UNSENT}")
                plans = []
                for mode in ("force_custom_plan", "force_generic_plan"):
                    await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
                    explained = await conn.fetch(
                        f"EXPLAIN (COSTS OFF) EXECUTE claim_check({BATCH})"
                    )
                    plans.append("\n".join(row[0] for row in explained))
                await conn.execute("DEALLOCATE claim_check")
    finally:
        await _forget(pool, unique_tenant)
    for plan in plans:
        assert "Index Scan using outbox_unsent_idx" in plan, plan
        assert "Seq Scan" not in plan and "Sort" not in plan, plan


async def test_backlog_metrics_count_every_priority(pool, unique_tenant):
    """`/metrics` still samples the backlog (import events included) and its oldest age."""
    await _import_backlog(pool, unique_tenant, 10)
    app = web.Application()
    app[DB_POOL] = pool
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE customer.outbox SET created_at = now() - interval '1 minute' "
                "WHERE tenant_id = $1",
                unique_tenant,
            )
        await sample_outbox(app)
    finally:
        await _forget(pool, unique_tenant)
    assert REGISTRY.get_sample_value("outbox_backlog_events") >= 10
    assert REGISTRY.get_sample_value("outbox_oldest_unsent_age_seconds") >= 60
