"""Erasure reaches the copies, and what is kept for a while goes on schedule (issue 10.5): row
errors naming a deleted customer are scrubbed by the delete; content of batches never queued and
sent outbox rows are deleted by customer_service's retention sweep."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import asyncpg

from customer_service.app import create_app
from customer_service.retention import EXPIRED_MESSAGE, RetentionSweeper
from impex_worker.imports.checks import RowError
from shared.db import tenant_transaction
from shared.imports import batches
from shared.imports.chunks import add_row_errors
from shared.timefmt import utcnow
from tests.support.imports import row_errors
from tests.support.waiting import eventually

API = "/api/v2"
IMPORT = "/api/import"
WEEK = timedelta(days=7)


def sweeper(pool: asyncpg.Pool) -> RetentionSweeper:
    return RetentionSweeper(
        pool, import_file_retention=WEEK, outbox_sent_retention=WEEK, interval=1
    )


async def add_errors(pool, tenant: str, errors: list[RowError]) -> uuid.UUID:
    """A batch of `tenant` with these row errors, written as the importer writes them."""
    async with tenant_transaction(pool, tenant) as conn:
        batch = await batches.insert_batch(conn, tenant, batch_ref=None, now=utcnow())
        await add_row_errors(conn, tenant, batch["id"], errors)
    return batch["id"]


async def upload(client, headers, data: bytes = b"email\nkept@example.com\n") -> str:
    created = await client.post(f"{IMPORT}/batch", headers=headers)
    batch_id = (await created.json())["id"]
    response = await client.post(
        f"{IMPORT}/batch/{batch_id}/file",
        data=data,
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert response.status == 202, await response.text()
    return batch_id


async def backdate(pool, batch_id: str, age: timedelta) -> None:
    await pool.execute(
        "UPDATE impex.batches SET modified_at = now() - $2::interval WHERE id = $1",
        uuid.UUID(batch_id),
        age,
    )


async def test_deleting_a_customer_scrubs_its_email_and_refs_from_row_errors(
    customer_client, headers, unique_tenant, pool
):
    """Row errors naming the customer by email (any case), customerRef or alternateCustomerRef
    lose those values (row number and reasons stay); other customers' and other tenants' row
    errors are untouched."""
    created = await customer_client.post(
        f"{API}/customers",
        json={"email": "Gone@Example.com", "customerRef": "R-1", "alternateCustomerRef": "A-1"},
        headers=headers,
    )
    customer_id = (await created.json())["id"]
    reasons = {"dob": ["Not a real calendar date."]}
    batch_id = await add_errors(
        pool,
        unique_tenant,
        [
            RowError(1, None, "gone@example.COM", reasons),
            RowError(2, "R-1", "older@example.com", reasons),
            RowError(3, "A-1", None, reasons),
            RowError(4, "R-2", "stays@example.com", reasons),
        ],
    )
    other_tenant = f"t_{uuid.uuid4().hex[:12]}"
    other_batch = await add_errors(pool, other_tenant, [RowError(1, "R-1", "gone@example.com", {})])

    deleted = await customer_client.delete(f"{API}/customers/{customer_id}", headers=headers)
    assert deleted.status == 204, await deleted.text()

    async with pool.acquire() as conn:
        left = await row_errors(conn, unique_tenant, batch_id)
        others = await row_errors(conn, other_tenant, other_batch)
    assert [(e["record_no"], e["customer_ref"], e["email"]) for e in left] == [
        (1, None, None),
        (2, None, None),
        (3, None, None),
        (4, "R-2", "stays@example.com"),
    ]
    assert all(e["errors"] == reasons for e in left)
    assert [(e["customer_ref"], e["email"]) for e in others] == [("R-1", "gone@example.com")]


async def test_sweep_expires_batches_never_queued_and_deletes_their_content(
    customer_client, headers, unique_tenant, pool
):
    """A CREATED batch unchanged for longer than the retention ends in ERROR with its content
    deleted and an impex.batch.failed event; a fresh CREATED batch and an old READY one stay."""
    stale = await upload(customer_client, headers)
    fresh = await upload(customer_client, headers)
    queued = await upload(customer_client, headers)
    readied = await customer_client.put(
        f"{IMPORT}/batch/state-change",
        params={"batchId": queued, "state": "READY"},
        headers=headers,
    )
    assert readied.status == 200
    await backdate(pool, stale, WEEK + timedelta(hours=1))
    await backdate(pool, queued, WEEK + timedelta(hours=1))
    await backdate(pool, fresh, WEEK - timedelta(hours=1))

    swept = await sweeper(pool).sweep()

    assert swept.expired_batches >= 1
    states = {}
    for batch_id in (stale, fresh, queued):
        body = await (
            await customer_client.get(f"{IMPORT}/batch/{batch_id}", headers=headers)
        ).json()
        states[batch_id] = body["state"]
        if batch_id == stale:
            assert body["errorMessage"] == EXPIRED_MESSAGE
    assert states == {stale: "ERROR", fresh: "CREATED", queued: "READY"}
    async with pool.acquire() as conn:
        pieces = await conn.fetch(
            "SELECT batch_id FROM impex.batch_files WHERE tenant_id = $1", unique_tenant
        )
        failed = await conn.fetch(
            "SELECT payload FROM customer.outbox WHERE tenant_id = $1 AND routing_key = $2",
            unique_tenant,
            "impex.batch.failed",
        )
    assert {str(p["batch_id"]) for p in pieces} == {fresh, queued}
    assert [event["payload"]["batch"]["id"] for event in failed] == [stale]


async def test_sweep_deletes_outbox_rows_sent_longer_ago_than_the_retention(pool, unique_tenant):
    """Sent rows past retention are deleted; recent sent rows and unsent rows (however old) stay."""
    ages = {"old-sent": WEEK + timedelta(hours=1), "new-sent": WEEK - timedelta(hours=1)}
    ids = {}
    for name in ("old-sent", "new-sent", "old-unsent"):
        event_id = uuid.uuid4()
        ids[name] = await pool.fetchval(
            "INSERT INTO customer.outbox (event_id, tenant_id, exchange, routing_key, payload, "
            "created_at, sent_at) VALUES ($1, $2, 'x', 'test.retention', $3, "
            "now() - interval '30 days', now() - $4::interval) RETURNING id",
            event_id,
            unique_tenant,
            {"eventId": str(event_id)},
            ages.get(name),
        )
    try:
        swept = await sweeper(pool).sweep()

        assert swept.deleted_outbox_rows >= 1
        left = await pool.fetch(
            "SELECT id FROM customer.outbox WHERE tenant_id = $1", unique_tenant
        )
        assert {row["id"] for row in left} == {ids["new-sent"], ids["old-unsent"]}
    finally:
        # The unsent row names no real exchange: a relay of a later test must not meet it.
        await pool.execute("DELETE FROM customer.outbox WHERE tenant_id = $1", unique_tenant)


async def test_customer_service_sweeps_on_a_schedule(
    aiohttp_client, jwks_settings, mint, unique_tenant, pool
):
    """The sweep runs in customer_service every RETENTION_SWEEP_INTERVAL_SECONDS: a batch that
    turns stale while it runs is expired without anyone asking."""
    settings = dataclasses.replace(jwks_settings[0], retention_sweep_interval_seconds=0.2)
    client = await aiohttp_client(create_app(settings))
    headers = mint.headers(unique_tenant)
    batch_id = await upload(client, headers)
    await backdate(pool, batch_id, WEEK + timedelta(hours=1))

    async def expired() -> bool:
        response = await client.get(f"{IMPORT}/batch/{batch_id}", headers=headers)
        return (await response.json())["state"] == "ERROR"

    await eventually(expired, timeout=30)
