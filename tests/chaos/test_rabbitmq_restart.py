"""Chaos (issue 17): RabbitMQ restarted under the suite, during an import and during deletes.
Nothing is lost: writes never needed the broker (events wait in the outbox, committed with the
change), the import ends with exact counts, every `customer.deleted` still de-identifies its
wishlists, and once the broker is back the outbox drains: every event of the tenant is marked
sent, none parked, and each reached the broker (a queue of the test's own, bound to the
exchanges before anything was published, holds them all). The broker is a node of the test's
own (tests/support/private_rabbitmq.py), killed and restarted by PID. Once every queue is declared
the node writes its queue registry to disk (`watch_events`): RabbitMQ 3.10 loses a quorum queue
declared seconds before a crash, which this test's own queue would be."""

from __future__ import annotations

import asyncio
import signal

import aio_pika
import aiohttp
import asyncpg

from deploy.local.suite import admin_port
from shared.amqp import (
    CUSTOMER_DELETED,
    CUSTOMER_EVENTS_EXCHANGE,
    CUSTOMER_IMPORTED,
    IMPEX_EVENTS_EXCHANGE,
    IMPEX_EXCHANGE,
    declare_topology,
)
from tests.e2e.conftest import Client, RunningSuite
from tests.support.database import connect
from tests.support.imports import ENDED, csv_bytes, events_of, mark_ready, uploaded_csv_batch
from tests.support.private_rabbitmq import PrivateBroker
from tests.support.waiting import eventually
from tests.support.wishlists import IDENTITY_COLUMNS, seed_wishlist, wait_deidentified

API = "/services/customerservice/api/v2"
EVENTS_QUEUE = "tests.chaos.events"


async def test_rabbitmq_killed_and_restarted_during_an_import(
    broker_suite: RunningSuite, broker: PrivateBroker, http, client: Client, test_settings
):
    """A 30k-row CSV import; part-way the broker is SIGKILLed (the worker's import message is
    unacknowledged then), the services' readiness says so, and the broker is started again. The
    batch completes with every row imported once, and every event reaches the broker."""
    await watch_events(broker)
    count = 30_000
    data = csv_bytes(
        ["customerRef", "email"], [[f"q{i}", f"q{i}@example.com"] for i in range(count)]
    )
    base, headers = broker_suite.base_url, client.headers
    batch_id = await uploaded_csv_batch(http, base, headers, data)
    conn = await connect(test_settings.database_url)
    try:
        await mark_ready(http, base, headers, batch_id)

        async def part_way() -> bool:
            processed = await conn.fetchval(
                "SELECT processed FROM impex.batches WHERE id = $1::uuid", batch_id
            )
            return 0 < processed < count

        await eventually(part_way, timeout=120, interval=0.02)
        await asyncio.to_thread(broker.stop, signal.SIGKILL)
        for service in ("customer_service", "impex_worker"):
            await eventually(lambda s=service: not_ready(http, broker_suite, s), timeout=30)
        await asyncio.to_thread(broker.start)

        async def ended() -> asyncpg.Record | None:
            row = await conn.fetchrow(
                "SELECT state, total, processed, imported, failed FROM impex.batches"
                " WHERE id = $1::uuid",
                batch_id,
            )
            return row if row["state"] in ENDED else None

        batch = await eventually(ended, timeout=300, interval=0.2)
        assert dict(batch) == {
            "state": "COMPLETED", "total": count, "processed": count, "imported": count,
            "failed": 0,
        }  # fmt: skip
        refs = await conn.fetch(
            "SELECT customer_ref, count(*) AS n FROM customer.customers"
            " WHERE tenant_id = $1 AND NOT deleted GROUP BY customer_ref",
            client.tenant,
        )
        assert len(refs) == count
        assert {row["n"] for row in refs} == {1}
        created = [
            entry["id"]
            for event in await events_of(conn, client.tenant, CUSTOMER_IMPORTED)
            for entry in event["created"]
        ]
        assert len(created) == len(set(created)) == count
        await outbox_drained_to_the_broker(conn, client.tenant, broker.url)
    finally:
        await conn.close()


async def test_rabbitmq_restarted_during_deletes_every_wishlist_is_deidentified(
    broker_suite: RunningSuite, broker: PrivateBroker, http, client: Client, test_settings
):
    """45 customers with a wishlist each, deleted a third before the broker stops, a third
    while it is down, a third while it starts again: every delete answers 204 (the event waits
    in the outbox), and every wishlist is de-identified once the broker is back."""
    await watch_events(broker)
    base, headers = broker_suite.base_url, client.headers
    customers = []
    for n in range(45):
        body = {"email": f"gone{n}@example.com", "firstName": "Ada", "customerRef": f"G-{n}"}
        async with http.post(f"{base}{API}/customers", json=body, headers=headers) as response:
            assert response.status == 201
            customers.append(await response.json())
    wishlists = await asyncpg.connect(test_settings.wishlist_database_url)
    conn = await connect(test_settings.database_url)
    try:
        lists = [
            await seed_wishlist(wishlists, client.tenant, customer, f"list {n}")
            for n, customer in enumerate(customers)
        ]

        async def delete(group: list[dict]) -> list[int]:
            statuses = []
            for customer in group:
                async with http.delete(
                    f"{base}{API}/customers/{customer['id']}", headers=headers
                ) as response:
                    statuses.append(response.status)
            return statuses

        before, down, starting = customers[:15], customers[15:30], customers[30:]
        assert await delete(before) == [204] * 15
        await asyncio.to_thread(broker.stop, signal.SIGTERM)
        await eventually(lambda: not_ready(http, broker_suite, "customer_service"), timeout=30)
        assert await delete(down) == [204] * 15
        restart = asyncio.create_task(asyncio.to_thread(broker.start))
        assert await delete(starting) == [204] * 15
        await restart

        rows = await wait_deidentified(wishlists, lists, timeout=180)
        for row in rows:
            assert all(row[column] is None for column in IDENTITY_COLUMNS)
            assert row["customer_pseudonym"]
        assert len(await events_of(conn, client.tenant, CUSTOMER_DELETED)) == 45
        await outbox_drained_to_the_broker(conn, client.tenant, broker.url)
    finally:
        await wishlists.close()
        await conn.close()


async def not_ready(http: aiohttp.ClientSession, suite: RunningSuite, service: str) -> bool:
    """The service's detailed /readyz answers 503 (it noticed the broker is gone)."""
    url = f"http://127.0.0.1:{admin_port(suite.env, service)}/readyz"
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            return response.status == 503
    except aiohttp.ClientError:
        return False


async def watch_events(broker: PrivateBroker) -> None:
    """A durable queue of the test's own, bound to every event exchange: it keeps a copy of
    each event published from now on, across restarts of the broker. Then the node's queue
    registry is written to disk, so a crash from now on keeps every queue (the suite's were
    declared as it started): see PrivateBroker.sync_registries."""
    connection = await aio_pika.connect(broker.url, timeout=10)
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel)
        queue = await channel.declare_queue(
            EVENTS_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.purge()
        for exchange in (CUSTOMER_EVENTS_EXCHANGE, IMPEX_EVENTS_EXCHANGE, IMPEX_EXCHANGE):
            await queue.bind(exchange, routing_key="#")
    await asyncio.to_thread(broker.sync_registries)


async def delivered_event_ids(url: str) -> set[str]:
    """The message ids (event ids) the watching queue holds, taken off it."""
    connection = await aio_pika.connect(url, timeout=10)
    ids: set[str] = set()
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            EVENTS_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
        )
        while (message := await queue.get(no_ack=True, fail=False, timeout=10)) is not None:
            ids.add(message.message_id)
    return ids


async def outbox_drained_to_the_broker(conn: asyncpg.Connection, tenant: str, url: str) -> None:
    """Every outbox row of the tenant is sent (none parked, none waiting), and reached the
    broker."""

    async def drained() -> bool:
        waiting = await conn.fetchval(
            "SELECT count(*) FROM customer.outbox WHERE tenant_id = $1 AND sent_at IS NULL",
            tenant,
        )
        return waiting == 0

    await eventually(drained, timeout=120, interval=0.2)
    parked = await conn.fetchval(
        "SELECT count(*) FROM customer.outbox WHERE tenant_id = $1 AND parked_at IS NOT NULL",
        tenant,
    )
    assert parked == 0
    events = {
        str(row["event_id"])
        for row in await conn.fetch(
            "SELECT event_id FROM customer.outbox WHERE tenant_id = $1", tenant
        )
    }
    assert events
    missing = events - await delivered_event_ids(url)
    assert not missing, f"{len(missing)} of {len(events)} events never reached the broker"
