"""A poison outbox row (one the broker always refuses) no longer holds back every tenant's
events: the rows behind it are published, and after OUTBOX_MAX_ATTEMPTS refusals it is parked,
counted and logged. A broker that cannot be reached parks nothing. Real PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import orjson
import pytest
from aiormq.exceptions import DeliveryError
from structlog.testing import capture_logs

from customer_service.app import create_app
from customer_service.metrics import REGISTRY
from customer_service.outbox_relay import relay_once
from shared.amqp import CUSTOMER_DELETED, Publisher
from tests.support.events import events_of
from tests.support.metrics import sample_total
from tests.support.waiting import eventually

MAX_ATTEMPTS = 3
UNSENT_OF_TENANT = "SELECT count(*) FROM customer.outbox WHERE tenant_id = $1 AND sent_at IS NULL"
API = "/api/v2"


@pytest.fixture
async def poison_row(pool, unique_tenant) -> AsyncIterator[int]:
    """A customer.deleted row for an exchange that does not exist: RabbitMQ refuses every
    publish of it (404 NOT_FOUND, closing the channel under the whole pipeline)."""
    payload = {"eventId": str(uuid.uuid4()), "type": CUSTOMER_DELETED, "tenant": unique_tenant,
               "customer": {"id": str(uuid.uuid4()), "customerRef": "POISON-REF"}}  # fmt: skip
    async with pool.acquire() as conn:
        row_id = await conn.fetchval(
            "INSERT INTO customer.outbox (event_id, tenant_id, exchange, routing_key, payload) "
            "VALUES ($1, $2, 'customer.events.misspelt', $3, $4) RETURNING id",
            uuid.UUID(payload["eventId"]), unique_tenant, CUSTOMER_DELETED, payload,
        )  # fmt: skip
    yield row_id
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM customer.outbox WHERE id = $1", row_id)


async def _outbox_row(pool: asyncpg.Pool, row_id: int) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await conn.fetchrow(
            "SELECT attempts, last_error, parked_at, sent_at FROM customer.outbox WHERE id = $1",
            row_id,
        )


def _parked_total() -> float:
    return REGISTRY.get_sample_value("outbox_events_parked_total", {"type": CUSTOMER_DELETED}) or 0


async def test_a_poison_row_is_parked_and_later_rows_keep_flowing(
    aiohttp_client, jwks_settings, mint, unique_tenant, pool, events_queue, poison_row
):
    settings = dataclasses.replace(jwks_settings[0], outbox_max_attempts=MAX_ATTEMPTS)
    parked_before = _parked_total()
    other_tenant = unique_tenant + "_b"
    with capture_logs() as logs:
        client = await aiohttp_client(create_app(settings))  # its relay claims the poison first
        headers = mint.headers(other_tenant)
        created = await client.post(
            f"{API}/customers", json={"email": "p@example.com", "customerRef": "P-1"},
            headers=headers,
        )  # fmt: skip
        assert created.status == 201
        customer_id = (await created.json())["id"]
        assert (
            await client.delete(f"{API}/customers/{customer_id}", headers=headers)
        ).status == 204

        # Published, and marked sent, while the poison row is still being retried.
        events = await events_of(events_queue, other_tenant, 2, timeout=20)
        assert [e["type"] for e in events] == ["customer.created", CUSTOMER_DELETED]

        async def parked() -> asyncpg.Record | None:
            row = await _outbox_row(pool, poison_row)
            return row if row["parked_at"] is not None else None

        row = await eventually(parked, timeout=30)
        assert row["attempts"] == MAX_ATTEMPTS
        assert row["last_error"] == "ChannelNotFoundEntity"
        assert row["sent_at"] is None

        # Parked: out of the relay's way, no further attempt, and the next event goes out.
        again = await client.post(f"{API}/customers", json={"email": "q@example.com"},
                                  headers=headers)  # fmt: skip
        assert again.status == 201
        assert [e["type"] for e in await events_of(events_queue, other_tenant, 1)] == [
            "customer.created"
        ]

        async def all_marked_sent() -> bool:  # marked just after the broker's confirm
            async with pool.acquire() as conn:
                unsent = await conn.fetchval(UNSENT_OF_TENANT, other_tenant)
            return unsent == 0

        await eventually(all_marked_sent)
        assert (await _outbox_row(pool, poison_row))["attempts"] == MAX_ATTEMPTS
        metrics = await (await client.get("/metrics")).text()

    assert _parked_total() == parked_before + 1
    assert sample_total(metrics, "outbox_parked_events") >= 1
    (parked_line,) = [entry for entry in logs if entry["event"] == "outbox event parked"]
    assert parked_line["outbox_id"] == poison_row
    assert parked_line["type"] == CUSTOMER_DELETED
    assert parked_line["log_level"] == "error"
    logged = orjson.dumps(logs, default=str).decode()
    assert "POISON-REF" not in logged and "p@example.com" not in logged


async def test_an_unreachable_broker_counts_against_no_row(test_settings, pool, poison_row):
    """No broker at all: the relay raises (and backs off) without blaming or parking a row."""
    publisher = Publisher("amqp://guest:guest@127.0.0.1:9/")
    suspects: set[int] = set()
    try:
        # The first round's pipeline fails as a whole: its rows are suspects, then each is
        # published on its own, and that failure is the connection's, not the row's.
        await relay_once(pool, publisher, max_attempts=MAX_ATTEMPTS, suspects=suspects)
        assert poison_row in suspects
        for _ in range(MAX_ATTEMPTS + 1):
            with pytest.raises(OSError):
                await relay_once(pool, publisher, max_attempts=MAX_ATTEMPTS, suspects=suspects)
    finally:
        await publisher.close()
    row = await _outbox_row(pool, poison_row)
    assert (row["attempts"], row["parked_at"], row["sent_at"]) == (0, None, None)


async def test_a_nacked_row_is_retried_never_parked(pool, publisher, amqp_channel, unique_tenant):
    """RabbitMQ nacks what a quorum queue cannot take now (here a full one; after a restart,
    one without a leader yet), whatever the message: the relay raises and retries, blaming and
    parking no row."""
    exchange = f"tests.nacking.{unique_tenant}"
    await amqp_channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, auto_delete=True)
    full = await amqp_channel.declare_queue(
        f"{exchange}.full",
        durable=True,
        arguments={"x-queue-type": "quorum", "x-max-length": 0, "x-overflow": "reject-publish"},
    )
    await full.bind(exchange, routing_key="#")
    await publisher.publish(exchange, "filler", {})  # a quorum queue takes one past its limit
    payload = {"eventId": str(uuid.uuid4()), "type": CUSTOMER_DELETED, "tenant": unique_tenant}
    async with pool.acquire() as conn:
        row_id = await conn.fetchval(
            "INSERT INTO customer.outbox (event_id, tenant_id, exchange, routing_key, payload) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id",
            uuid.UUID(payload["eventId"]), unique_tenant, exchange, CUSTOMER_DELETED, payload,
        )  # fmt: skip
    suspects = {row_id}  # published on its own, where a refusal would count against it
    try:
        for _ in range(MAX_ATTEMPTS + 1):
            with pytest.raises(DeliveryError):
                await relay_once(pool, publisher, max_attempts=MAX_ATTEMPTS, suspects=suspects)
        row = await _outbox_row(pool, row_id)
        assert (row["attempts"], row["parked_at"], row["sent_at"]) == (0, None, None)
    finally:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM customer.outbox WHERE id = $1", row_id)
        await full.delete(if_unused=False, if_empty=False)
