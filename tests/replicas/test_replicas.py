"""API.md §6, several replicas on one machine: every service twice behind HAProxy; the gateways
balanced on the public port reach customer_service and auth_service through balanced addresses;
workers compete for the queue, and one batch is never imported twice at once."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningSuite
from tests.replicas.conftest import REPLICAS, created_ids, replica_url
from tests.support.database import connect
from tests.support.imports import ENDED, events_of
from tests.support.metrics import metric_total
from tests.support.waiting import eventually

API = "/services/customerservice/api/v2"
IMPEX = "/services/impex/api/import"


async def test_every_service_answers_through_its_balancer(
    replicated: RunningSuite, http, tenant_headers
):
    ids = []
    for i in range(12):
        async with http.post(
            f"{replicated.base_url}{API}/customers",
            json={"email": f"r{i}@example.com"},
            headers=tenant_headers,
        ) as response:
            assert response.status == 201, await response.text()
            ids.append((await response.json())["id"])
    for customer_id in ids:
        async with http.get(
            f"{replicated.base_url}{API}/customers/{customer_id}", headers=tenant_headers
        ) as response:
            assert response.status == 200
    # Each replica of the gateway and of customer_service took a share of the writes (their
    # access logs: one line per request, with the tenant).
    for service in ("gateway", "customer_service"):
        for suite in replicated.suite.suites:
            served = _logged_creates(suite.log_dir / f"{service}.log", tenant_headers)
            assert served > 0, f"a {service} replica served none of the 12 creates"


def _logged_creates(log: Path, headers: dict[str, str]) -> int:
    lines = (json.loads(line) for line in log.read_text().splitlines() if line.startswith("{"))
    return sum(
        1
        for line in lines
        if line.get("msg") == "request"
        and line.get("method") == "POST"
        and line.get("status") == 201
        and line.get("tenant") == headers["X-TWC-Tenant"]
    )


async def test_two_workers_one_batch_exact_counts(
    replicated: RunningSuite, http, tenant_headers, test_settings, unique_tenant
):
    """The batch's queue message is delivered twice (as at-least-once delivery may), so both
    workers go for the same batch at once: the per-batch lock lets one import it, and every
    record is imported exactly once."""
    count = 3000
    records = [{"email": f"w{i}@example.com", "customerRef": f"w{i}"} for i in range(count)]
    async with http.post(
        f"{replicated.base_url}{API}/upload-customers", json=records, headers=tenant_headers
    ) as response:
        assert response.status == 202, await response.text()
        batch_id = uuid.UUID((await response.json())["id"])
    conn = await connect(test_settings.database_url)
    try:
        # The same message once more (a new eventId, the same batch).
        await conn.execute(
            """INSERT INTO customer.outbox (event_id, tenant_id, exchange, routing_key, payload)
               SELECT gen_random_uuid(), tenant_id, exchange, routing_key,
                      jsonb_set(payload, '{eventId}', to_jsonb(gen_random_uuid()::text))
               FROM customer.outbox WHERE tenant_id = $1 AND exchange = 'impex'""",
            unique_tenant,
        )
        before = [
            await metric_total(
                http, replica_url(replicated, "impex_worker", r), "import_rows_total"
            )
            for r in range(1, REPLICAS + 1)
        ]

        async def ended():
            row = await conn.fetchrow(
                "SELECT state, total, processed, imported, failed FROM impex.batches"
                " WHERE tenant_id = $1 AND id = $2",
                unique_tenant,
                batch_id,
            )
            return row if row["state"] in ENDED else None

        batch = await eventually(ended, timeout=240, interval=0.5)
        assert (batch["state"], batch["total"], batch["processed"], batch["imported"]) == (
            "COMPLETED", count, count, count,
        )  # fmt: skip
        customers = await conn.fetchval(
            "SELECT count(*) FROM customer.customers WHERE tenant_id = $1", unique_tenant
        )
        assert customers == count

        # Both messages were consumed, and between the two workers each row was counted once.
        async def both_consumed():
            sent = await conn.fetchval(
                "SELECT count(*) FROM customer.outbox WHERE tenant_id = $1 AND exchange = 'impex'"
                " AND sent_at IS NOT NULL",
                unique_tenant,
            )
            return sent == 2

        await eventually(both_consumed, timeout=60, interval=0.2)
        after = [
            await metric_total(
                http, replica_url(replicated, "impex_worker", r), "import_rows_total"
            )
            for r in range(1, REPLICAS + 1)
        ]
        assert sum(after) - sum(before) == count
        created = await created_ids(conn, unique_tenant)
        assert len(created) == len(set(created)) == count
        assert not await events_of(conn, unique_tenant, "customer.updated")
        chunks = await events_of(conn, unique_tenant, "customer.imported")
        assert not any(event["updated"] for event in chunks)
    finally:
        await conn.close()


@pytest.mark.parametrize("service", ["customer_service", "auth_service"])
async def test_processes_reach_each_other_only_through_balanced_addresses(
    replicated: RunningSuite, service
):
    for suite in replicated.suite.suites:
        variable = {"customer_service": "CUSTOMER_SERVICE_URL", "auth_service": "AUTH_SERVICE_URL"}
        port = replicated.env[
            {"customer_service": "CUSTOMER_SERVICE_PORT", "auth_service": "AUTH_SERVICE_PORT"}[
                service
            ]
        ]
        assert suite.env[variable[service]] == f"http://127.0.0.1:{port}"
