"""Chaos on the replicated suite (issue 17): processes SIGKILLed under load lose nothing
committed, and the survivors take the traffic. Only the suite's own processes are killed; the
shared PostgreSQL, RabbitMQ and Redis are left alone."""

from __future__ import annotations

import asyncio
import signal

import aiohttp

from tests.e2e.conftest import RunningSuite
from tests.replicas.conftest import REPLICAS, created_ids, replica_url
from tests.support.database import connect
from tests.support.imports import ENDED, csv_bytes, mark_ready, uploaded_csv_batch
from tests.support.metrics import metric_total
from tests.support.waiting import eventually

API = "/services/customerservice/api/v2"
WRITERS = 4


async def test_sigkill_a_customer_service_and_a_gateway_under_write_load(
    replicated: RunningSuite, http, tenant_headers
):
    """Steady creates from four clients; SIGKILL customer_service replica 1, then gateway
    replica 1. Only requests in flight on a killed process may fail (at most one per writer per
    kill); every 201 is readable afterwards, and writes go on through the survivors."""
    suite = replicated.suite
    created: list[str] = []
    failed: list[str] = []
    stop = asyncio.Event()

    async def writer(number: int) -> None:
        sequence = 0
        while not stop.is_set():
            sequence += 1
            try:
                async with http.post(
                    f"{replicated.base_url}{API}/customers",
                    json={"email": f"w{number}-{sequence}@example.com"},
                    headers=tenant_headers,
                ) as response:
                    if response.status == 201:
                        created.append((await response.json())["id"])
                    else:
                        failed.append(str(response.status))
            except aiohttp.ClientError as exc:
                failed.append(type(exc).__name__)

    async def more_created(count: int) -> None:
        mark = len(created)
        await eventually(lambda: _true(len(created) >= mark + count), timeout=60, interval=0.02)

    writers = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    try:
        await more_created(20)
        await asyncio.to_thread(
            suite.stop_service, "customer_service", replica=1, sig=signal.SIGKILL, grace=5
        )
        await more_created(40)
        await asyncio.to_thread(
            suite.stop_service, "gateway", replica=1, sig=signal.SIGKILL, grace=5
        )
        await more_created(40)
    finally:
        stop.set()
        await asyncio.gather(*writers)
        suite.start_service("customer_service", replica=1)
        suite.start_service("gateway", replica=1)
        await asyncio.to_thread(suite.wait_ready, 60)

    assert len(failed) <= 2 * WRITERS, failed
    for customer_id in created:
        async with http.get(
            f"{replicated.base_url}{API}/customers/{customer_id}", headers=tenant_headers
        ) as response:
            assert response.status == 200, customer_id


async def _true(value: bool) -> bool:
    return value


async def test_sigkill_the_importing_worker_another_finishes_exactly(
    replicated: RunningSuite, http, tenant_headers, test_settings, unique_tenant
):
    """A 100k-row CSV import; the worker importing it is SIGKILLed mid-way. The other worker
    gets the unacknowledged message, takes the batch's lock once the dead worker's connection is
    gone, and resumes from the last checkpoint: every record stored once, no duplicates."""
    count = 100_000
    data = csv_bytes(
        ["customerRef", "email"], [[f"k{i}", f"k{i}@example.com"] for i in range(count)]
    )
    base = replicated.base_url
    batch_id = await uploaded_csv_batch(http, base, tenant_headers, data)
    workers = [replica_url(replicated, "impex_worker", r) for r in range(1, REPLICAS + 1)]
    before = [await metric_total(http, url, "import_rows_total") for url in workers]
    conn = await connect(test_settings.database_url)
    try:
        await mark_ready(http, base, tenant_headers, batch_id)

        async def importing_worker() -> int | None:
            """The replica whose rows counter moves while the batch is part-way."""
            processed = await conn.fetchval(
                "SELECT processed FROM impex.batches WHERE id = $1::uuid", batch_id
            )
            if not 0 < processed < count // 2:
                return None
            for replica, (url, rows) in enumerate(zip(workers, before, strict=True), start=1):
                if await metric_total(http, url, "import_rows_total") > rows:
                    return replica
            return None

        victim = await eventually(importing_worker, timeout=120, interval=0.05)
        await asyncio.to_thread(
            replicated.suite.stop_service,
            "impex_worker",
            replica=victim,
            sig=signal.SIGKILL,
            grace=5,
        )

        async def ended():
            row = await conn.fetchrow(
                "SELECT state, total, processed, imported, failed FROM impex.batches"
                " WHERE id = $1::uuid",
                batch_id,
            )
            return row if row["state"] in ENDED else None

        try:
            batch = await eventually(ended, timeout=600, interval=0.5)
        finally:
            replicated.suite.start_service("impex_worker", replica=victim)
        assert dict(batch) == {
            "state": "COMPLETED", "total": count, "processed": count, "imported": count,
            "failed": 0,
        }  # fmt: skip
        stored = await conn.fetchval(
            "SELECT count(DISTINCT customer_ref) FROM customer.customers"
            " WHERE tenant_id = $1 AND NOT deleted",
            unique_tenant,
        )
        rows = await conn.fetchval(
            "SELECT count(*) FROM customer.customers WHERE tenant_id = $1", unique_tenant
        )
        assert stored == rows == count
        created = await created_ids(conn, unique_tenant)
        assert len(created) == len(set(created)) == count
    finally:
        await conn.close()
        await asyncio.to_thread(replicated.suite.wait_ready, 60)
