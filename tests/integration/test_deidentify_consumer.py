"""impex_worker de-identifies a deleted customer's wishlists: real PostgreSQL, real RabbitMQ."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import uuid
from typing import Any

import aio_pika
import asyncpg
import pytest

from impex_worker.app import create_app
from impex_worker.consumer import Consumer, Subscription
from impex_worker.metrics import REGISTRY
from shared import db
from shared.amqp import (
    CUSTOMER_DELETED,
    CUSTOMER_DELETED_QUEUE,
    CUSTOMER_EVENTS_EXCHANGE,
    DEAD_LETTER_QUEUE,
    Publisher,
)
from shared.settings import Settings
from tests.support.waiting import eventually

DEADLINE_SECONDS = 15.0
PERSONAL_DATA = ("ada@example.com", "Ada", "Lovelace", "C-ADA")


def expected_pseudonym(settings: Settings, tenant: str, customer_id: uuid.UUID) -> str:
    message = f"{tenant}:{customer_id}".encode()
    return hmac.new(settings.pseudonym_key.encode(), message, hashlib.sha256).hexdigest()


def deleted_event(tenant: str, customer_id: uuid.UUID) -> dict[str, Any]:
    return {
        "eventId": str(uuid.uuid4()),
        "type": CUSTOMER_DELETED,
        "tenant": tenant,
        "occurredAt": "2024-05-19T03:48:22.075Z",
        "customer": {"id": str(customer_id), "customerRef": "C-ADA", "alternateCustomerRef": None},
    }


def handled(logs: list[dict], *, outcome: str | None = None, **fields: object) -> list[dict]:
    """The worker's per-message log lines that carry `fields` (and `outcome`, when given)."""
    return [
        entry
        for entry in logs
        if entry["event"] == "message handled"
        and (outcome is None or entry["outcome"] == outcome)
        and all(entry.get(key) == value for key, value in fields.items())
    ]


def consumed(outcome: str) -> float:
    labels = {"queue": CUSTOMER_DELETED_QUEUE, "outcome": outcome}
    return REGISTRY.get_sample_value("messages_consumed_total", labels) or 0.0


async def seed_wishlist(
    conn: asyncpg.Connection, *, tenant: str, customer_id: uuid.UUID, items: int = 2
) -> uuid.UUID:
    """A wishlist with the customer's identity on it, and `items` items."""
    wishlist_id = uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO wishlist.wishlists (id, tenant_id, customer_id, customer_ref, customer_email,
            customer_first_name, customer_last_name, name, created_at, updated_at)
        VALUES ($1, $2, $3, 'C-ADA', 'ada@example.com', 'Ada', 'Lovelace', 'Birthday',
            now() - interval '1 day', now() - interval '1 day')
        """,
        wishlist_id,
        tenant,
        customer_id,
    )
    await conn.executemany(
        """
        INSERT INTO wishlist.wishlist_items (id, tenant_id, wishlist_id, product_ref)
        VALUES ($1, $2, $3, $4)
        """,
        [(uuid.uuid4(), tenant, wishlist_id, f"P-{n}") for n in range(items)],
    )
    return wishlist_id


async def wishlist(conn: asyncpg.Connection, wishlist_id: uuid.UUID) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM wishlist.wishlists WHERE id = $1", wishlist_id)
    return dict(row)


async def item_count(conn: asyncpg.Connection, wishlist_id: uuid.UUID) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM wishlist.wishlist_items WHERE wishlist_id = $1", wishlist_id
    )


async def all_deidentified(conn: asyncpg.Connection, *wishlist_ids: uuid.UUID) -> bool:
    return await conn.fetchval(
        "SELECT bool_and(deidentified_at IS NOT NULL) FROM wishlist.wishlists WHERE id = ANY($1)",
        list(wishlist_ids),
    )


async def is_ready(client) -> bool:
    response = await client.get("/readyz")
    return response.status == 200


class FlakyPool:
    """The real pool, except that the next `failures` acquisitions fail as if the database
    were down."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.failures = 0

    async def acquire(self, *, timeout: float | None = None) -> asyncpg.Connection:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError("the database is down")
        return await self._pool.acquire(timeout=timeout)

    async def release(self, conn: asyncpg.Connection) -> None:
        await self._pool.release(conn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


@pytest.fixture
async def wishlist_db(test_settings: Settings):
    conn = await asyncpg.connect(test_settings.wishlist_database_url)
    yield conn
    await conn.close()


async def publish_deleted(publisher: Publisher, event: dict[str, Any]) -> None:
    await publisher.publish(
        CUSTOMER_EVENTS_EXCHANGE, CUSTOMER_DELETED, event, message_id=event["eventId"]
    )


async def test_worker_is_ready_once_connected_to_rabbitmq_and_the_wishlist_database(worker):
    """/readyz answers 200 while consuming; /healthz and /metrics are served too."""
    ready = await worker.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ready"}
    assert (await worker.get("/healthz")).status == 200
    assert (await worker.get("/metrics")).status == 200


async def test_deleted_customers_wishlists_lose_their_identity_and_keep_their_items(
    worker, wishlist_db, publisher, logs, test_settings, unique_tenant
):
    """Both wishlists of the deleted customer are de-identified as API.md §5 says; another
    customer of the tenant and the same customer id in another tenant are untouched."""
    customer_id, other_customer_id = uuid.uuid4(), uuid.uuid4()
    other_tenant = f"{unique_tenant}_other"
    first = await seed_wishlist(wishlist_db, tenant=unique_tenant, customer_id=customer_id)
    second = await seed_wishlist(wishlist_db, tenant=unique_tenant, customer_id=customer_id)
    neighbour = await seed_wishlist(
        wishlist_db, tenant=unique_tenant, customer_id=other_customer_id
    )
    namesake = await seed_wishlist(wishlist_db, tenant=other_tenant, customer_id=customer_id)
    before = {wid: await wishlist(wishlist_db, wid) for wid in (first, second, neighbour, namesake)}

    event = deleted_event(unique_tenant, customer_id)
    await publish_deleted(publisher, event)
    await eventually(
        lambda: all_deidentified(wishlist_db, first, second),
        timeout=DEADLINE_SECONDS,
        what="de-identification",
    )

    pseudonym = expected_pseudonym(test_settings, unique_tenant, customer_id)
    for wishlist_id in (first, second):
        row = await wishlist(wishlist_db, wishlist_id)
        assert row["customer_id"] is None
        assert row["customer_ref"] is None
        assert row["customer_email"] is None
        assert row["customer_first_name"] is None
        assert row["customer_last_name"] is None
        assert row["customer_pseudonym"] == pseudonym
        assert row["deidentified_at"] is not None
        assert row["updated_at"] > before[wishlist_id]["updated_at"]
        assert row["name"] == "Birthday"
        assert await item_count(wishlist_db, wishlist_id) == 2
    assert await wishlist(wishlist_db, neighbour) == before[neighbour]
    assert await wishlist(wishlist_db, namesake) == before[namesake]

    [line] = await eventually(
        lambda: handled(logs, event_id=event["eventId"]),
        timeout=DEADLINE_SECONDS,
        what="the log line",
    )
    assert line["outcome"] == "processed"
    assert line["tenant"] == unique_tenant
    assert line["rows_deidentified"] == 2
    assert line["queue"] == CUSTOMER_DELETED_QUEUE
    assert not any(value in repr(logs) for value in PERSONAL_DATA)


async def test_an_event_delivered_twice_changes_nothing_the_second_time(
    worker, wishlist_db, publisher, logs, unique_tenant
):
    """At-least-once delivery is harmless: the second delivery matches no row."""
    customer_id = uuid.uuid4()
    wishlist_id = await seed_wishlist(wishlist_db, tenant=unique_tenant, customer_id=customer_id)
    event = deleted_event(unique_tenant, customer_id)

    await publish_deleted(publisher, event)
    await eventually(
        lambda: all_deidentified(wishlist_db, wishlist_id),
        timeout=DEADLINE_SECONDS,
        what="de-identification",
    )
    after_first = await wishlist(wishlist_db, wishlist_id)
    await publish_deleted(publisher, event)
    lines = await eventually(
        lambda: len(found := handled(logs, event_id=event["eventId"])) == 2 and found,
        timeout=DEADLINE_SECONDS,
        what="the second delivery to be handled",
    )

    assert [line["outcome"] for line in lines] == ["processed", "processed"]
    assert [line["rows_deidentified"] for line in lines] == [1, 0]
    assert await wishlist(wishlist_db, wishlist_id) == after_first
    assert await item_count(wishlist_db, wishlist_id) == 2


async def test_a_poison_message_is_dead_lettered_without_blocking_the_next_good_message(
    worker, wishlist_db, publisher, amqp_channel, logs, unique_tenant
):
    """A body that is not JSON is rejected once, lands in the dead-letter queue, and the event
    published after it is still handled."""
    poison_id = f"poison-{uuid.uuid4()}"
    poison_before = consumed("poison")
    exchange = await amqp_channel.get_exchange(CUSTOMER_EVENTS_EXCHANGE)
    await exchange.publish(
        aio_pika.Message(b"not json", message_id=poison_id, content_type="application/json"),
        routing_key=CUSTOMER_DELETED,
    )
    customer_id = uuid.uuid4()
    wishlist_id = await seed_wishlist(wishlist_db, tenant=unique_tenant, customer_id=customer_id)
    await publish_deleted(publisher, deleted_event(unique_tenant, customer_id))

    await eventually(
        lambda: all_deidentified(wishlist_db, wishlist_id),
        timeout=DEADLINE_SECONDS,
        what="the good message",
    )
    dead = await eventually(
        lambda: take_dead_letter(amqp_channel, poison_id),
        timeout=DEADLINE_SECONDS,
        what="the poison in the dead-letter queue",
    )
    assert dead.body == b"not json"
    assert dead.headers["x-first-death-queue"] == CUSTOMER_DELETED_QUEUE
    assert dead.headers["x-first-death-reason"] == "rejected"
    [line] = await eventually(
        lambda: handled(logs, message_id=poison_id), timeout=DEADLINE_SECONDS, what="its log line"
    )
    assert line["outcome"] == "poison"
    assert line["reason"] == "body is not JSON"
    assert consumed("poison") == poison_before + 1


async def take_dead_letter(
    channel: aio_pika.abc.AbstractChannel, message_id: str
) -> aio_pika.abc.AbstractIncomingMessage | None:
    """Take our message from the shared dead-letter queue. Others' dead letters are left
    unacked while we look, so they go back to the queue when the channel closes."""
    queue = await channel.get_queue(DEAD_LETTER_QUEUE)
    while (message := await queue.get(no_ack=False, fail=False)) is not None:
        if message.message_id == message_id:
            await message.ack()
            return message
    return None


async def test_a_database_outage_is_retried_until_the_message_succeeds(
    aiohttp_client, test_settings, wishlist_db, publisher, logs, unique_tenant
):
    """A transient failure requeues the message instead of acking or dead-lettering it."""
    pool = await db.create_pool(test_settings.wishlist_database_url, min_size=0, max_size=2)
    flaky = FlakyPool(pool)
    client = await aiohttp_client(create_app(test_settings, wishlist_pool=flaky))
    try:
        await eventually(
            lambda: is_ready(client), timeout=DEADLINE_SECONDS, what="the worker to be ready"
        )
        customer_id = uuid.uuid4()
        wishlist_id = await seed_wishlist(
            wishlist_db, tenant=unique_tenant, customer_id=customer_id
        )
        event = deleted_event(unique_tenant, customer_id)
        flaky.failures = 1

        await publish_deleted(publisher, event)
        await eventually(
            lambda: all_deidentified(wishlist_db, wishlist_id),
            timeout=DEADLINE_SECONDS,
            what="the retry",
        )

        # The outcome is logged once the handler has returned: just after its commit shows.
        lines = await eventually(
            lambda: len(found := handled(logs, event_id=event["eventId"])) == 2 and found,
            timeout=DEADLINE_SECONDS,
            what="both deliveries logged",
        )
        assert [line["outcome"] for line in lines] == ["retry", "processed"]
        assert lines[0]["error"] == "Unavailable"
        assert lines[1]["rows_deidentified"] == 1
    finally:
        await client.close()  # the worker stops before the pool it uses closes
        await pool.close()


async def test_the_worker_starts_and_is_not_ready_while_rabbitmq_is_down(
    aiohttp_client, test_settings
):
    """No broker: the worker still serves /healthz, /readyz says which dependency is missing,
    and it stops promptly although it is still trying to connect."""
    settings = dataclasses.replace(test_settings, amqp_url="amqp://guest:guest@127.0.0.1:1/")
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/healthz")).status == 200
    not_ready = await client.get("/readyz")
    assert not_ready.status == 503
    assert set((await not_ready.json())["errors"]) == {"rabbitmq"}
    async with asyncio.timeout(5):
        await client.close()


async def test_stopping_lets_an_in_flight_message_finish_and_acks_it(test_settings, amqp_channel):
    """Stop cancels consuming, waits for the handler in progress, acks its message, then closes."""
    queue_name = f"test.impex.{uuid.uuid4().hex}"
    queue = await amqp_channel.declare_queue(queue_name, durable=False)
    started, release, finished = asyncio.Event(), asyncio.Event(), []

    async def slow_handler(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        started.set()
        await release.wait()
        finished.append(message.body)

    consumer = Consumer(test_settings.amqp_url, [Subscription(queue_name, slow_handler)])
    consumer.start()
    try:
        await eventually(
            lambda: _pings(consumer), timeout=DEADLINE_SECONDS, what="the consumer to connect"
        )
        await amqp_channel.default_exchange.publish(
            aio_pika.Message(b"work"), routing_key=queue_name
        )
        async with asyncio.timeout(DEADLINE_SECONDS):
            await started.wait()

        stopping = asyncio.create_task(consumer.stop(grace=DEADLINE_SECONDS))
        done, _ = await asyncio.wait({stopping}, timeout=0.3)
        assert not done, "stop returned while a message was still being handled"
        release.set()
        await stopping

        assert finished == [b"work"]
        assert await queue.get(fail=False) is None  # acked: nothing came back
    finally:
        release.set()
        await consumer.stop(grace=1)
        await queue.delete(if_unused=False, if_empty=False)


async def _pings(consumer: Consumer) -> bool:
    try:
        await consumer.ping()
    except ConnectionError:
        return False
    return True
