"""Chaos (issue 17): PostgreSQL restarts under customer_service. While it is down, requests get
a 503 problem (never a hang) and /readyz says not ready; once it is back, both recover without a
restart of the service. The cluster is the test's own (tests/support/private_postgres.py)."""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp

from customer_service.app import create_app
from shared.migrations import migrate_all
from tests.support.private_postgres import private_cluster
from tests.support.waiting import eventually

API = "/api/v2"
# A hang would run into this; the answer must come well before it (a 503, not a timeout).
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=30)


async def test_postgres_restart_gives_503s_then_recovers(
    aiohttp_client, jwks_settings, mint, unique_tenant
):
    settings, _ = jwks_settings
    with private_cluster() as cluster:
        url = cluster.url("customer_suite")
        await migrate_all(url, url)
        settings = dataclasses.replace(settings, database_url=url, wishlist_database_url=url)
        client = await aiohttp_client(create_app(settings, run_relay=False), timeout=CLIENT_TIMEOUT)
        headers = mint.headers(unique_tenant)

        async def create(n: int) -> int:
            response = await client.post(
                f"{API}/customers", json={"email": f"pg{n}@example.com"}, headers=headers
            )
            return response.status

        assert await create(0) == 201
        assert (await client.get("/readyz")).status == 200

        await asyncio.to_thread(cluster.stop)
        down = await client.post(
            f"{API}/customers", json={"email": "down@example.com"}, headers=headers
        )
        assert down.status == 503
        assert down.content_type == "application/problem+json"
        assert (await client.get("/readyz")).status == 503

        await asyncio.to_thread(cluster.start)

        async def ready() -> bool:
            return (await client.get("/readyz")).status == 200

        await eventually(ready, timeout=30, interval=0.2)
        statuses = {await create(n) for n in range(1, 6)}
        assert statuses == {201}
