"""Stalled uploads of one tenant cannot stall any other tenant (issue 10.2): an upload is received
whole before it takes a database connection, a silent one ends in 408, and a tenant runs a
bounded number at once (429 beyond)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from customer_service import metrics
from customer_service.app import create_app
from tests.support.waiting import eventually

API = "/api/v2"
IMPORT = "/api/import"
POOL_SIZE = 3


class StalledBody:
    """A chunked body that sends its first line, then nothing until released."""

    def __init__(self) -> None:
        self.released = asyncio.Event()

    async def chunks(self) -> AsyncIterator[bytes]:
        yield b"email\n"
        await self.released.wait()
        yield b"late@example.com\n"


def tenant() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


async def stored_files(settings, tenant_id: str) -> dict[str, bytes]:
    """The content each batch of the tenant has stored, by batch id."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT batch_id, string_agg(data, ''::bytea ORDER BY seq) AS data "
            "FROM impex.batch_files WHERE tenant_id = $1 GROUP BY batch_id",
            tenant_id,
        )
    finally:
        await conn.close()
    return {str(row["batch_id"]): row["data"] for row in rows}


async def app_client(aiohttp_client, jwks_settings, **overrides):
    settings = dataclasses.replace(jwks_settings[0], db_pool_max=POOL_SIZE, **overrides)
    return await aiohttp_client(create_app(settings))


async def new_batch(client, headers) -> str:
    response = await client.post(f"{IMPORT}/batch", headers=headers)
    assert response.status == 201, await response.text()
    return (await response.json())["id"]


def upload(client, headers, batch_id: str, data) -> asyncio.Task:
    return asyncio.create_task(
        client.post(
            f"{IMPORT}/batch/{batch_id}/file",
            data=data,
            headers={**headers, "Content-Type": "text/csv"},
        )
    )


def uploads_in_progress() -> float:
    return metrics.IMPORT_UPLOADS_IN_PROGRESS._value.get()


async def all_in_progress(count: int) -> None:
    async def probe() -> bool:
        return uploads_in_progress() >= count

    await eventually(probe, timeout=30)


async def finish(stalled: list[StalledBody], tasks: list[asyncio.Task]) -> list:
    for body in stalled:
        body.released.set()
    return await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)


async def test_stalled_uploads_beyond_the_pool_size_leave_other_tenants_served(
    aiohttp_client, jwks_settings, mint, test_settings
):
    """More stalled uploads from tenant A than the pool has connections: tenant B still reads
    and writes (200, 201), and A's uploads are stored once their bodies arrive."""
    client = await app_client(
        aiohttp_client, jwks_settings, upload_concurrency_per_tenant=10,
        upload_read_timeout_seconds=120,
    )  # fmt: skip
    tenant_a = tenant()
    a, b = mint.headers(tenant_a), mint.headers(tenant())
    created = await client.post(f"{API}/customers", json={"email": "b@example.com"}, headers=b)
    customer = await created.json()
    batches = [await new_batch(client, a) for _ in range(POOL_SIZE + 2)]
    stalled = [StalledBody() for _ in batches]
    tasks = [upload(client, a, i, s.chunks()) for i, s in zip(batches, stalled, strict=True)]
    try:
        await all_in_progress(len(tasks))
        read = await client.get(f"{API}/customers/{customer['id']}", headers=b)
        assert read.status == 200, await read.text()
        write = await client.post(f"{API}/customers", json={"email": "b2@example.com"}, headers=b)
        assert write.status == 201, await write.text()
    finally:
        responses = await finish(stalled, tasks)
    assert [r.status for r in responses] == [202] * len(tasks)
    stored = await stored_files(test_settings, tenant_a)
    assert stored == {batch_id: b"email\nlate@example.com\n" for batch_id in batches}


async def test_a_tenants_uploads_beyond_its_limit_get_429_with_retry_after(
    aiohttp_client, jwks_settings, mint
):
    """With 2 uploads of tenant A in progress, a third is a 429 problem with Retry-After;
    tenant B uploads meanwhile; once one of A's ends, A uploads again."""
    client = await app_client(
        aiohttp_client, jwks_settings, upload_concurrency_per_tenant=2,
        upload_read_timeout_seconds=120,
    )  # fmt: skip
    a, b = mint.headers(tenant()), mint.headers(tenant())
    stalled = [StalledBody(), StalledBody()]
    tasks = [upload(client, a, await new_batch(client, a), s.chunks()) for s in stalled]
    try:
        await all_in_progress(2)
        refused = await upload(client, a, await new_batch(client, a), b"email\nx@example.com\n")
        assert refused.status == 429
        assert refused.content_type == "application/problem+json"
        assert int(refused.headers["Retry-After"]) > 0
        other = await upload(client, b, await new_batch(client, b), b"email\nx@example.com\n")
        assert other.status == 202, await other.text()
        stalled[0].released.set()
        assert (await asyncio.wait_for(tasks[0], timeout=60)).status == 202
        again = await upload(client, a, await new_batch(client, a), b"email\nx@example.com\n")
        assert again.status == 202, await again.text()
    finally:
        await finish(stalled, tasks)


async def test_a_stalled_upload_ends_in_408_after_the_read_timeout(
    aiohttp_client, jwks_settings, mint, test_settings
):
    """An upload that stops sending is answered 408 (problem+json) once it has been silent for
    UPLOAD_READ_TIMEOUT_SECONDS; its slot is free again and the batch keeps no content."""
    client = await app_client(
        aiohttp_client, jwks_settings, upload_concurrency_per_tenant=1,
        upload_read_timeout_seconds=0.5,
    )  # fmt: skip
    tenant_id = tenant()
    headers = mint.headers(tenant_id)
    batch_id = await new_batch(client, headers)
    stalled = StalledBody()
    try:
        response = await asyncio.wait_for(upload(client, headers, batch_id, stalled.chunks()), 60)
    finally:
        stalled.released.set()
    assert response.status == 408
    assert response.content_type == "application/problem+json"
    batch = await (await client.get(f"{IMPORT}/batch/{batch_id}", headers=headers)).json()
    assert batch["state"] == "CREATED"
    assert await stored_files(test_settings, tenant_id) == {}
    retried = await upload(client, headers, batch_id, b"email\nx@example.com\n")
    assert retried.status == 202, await retried.text()


@pytest.fixture(autouse=True)
def _no_upload_left_running():
    yield
    assert uploads_in_progress() == 0
