"""Fixtures for running the services in-process against the real stores, shared by every
integration test: customer_service (`customer_client`), impex_worker (`worker`), a pool, Redis,
RabbitMQ (`publisher`, `amqp_channel`, `events_queue`) and captured log lines (`logs`)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import asyncpg
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from structlog.testing import capture_logs

from customer_service.app import create_app
from impex_worker.app import create_app as create_worker_app
from shared.amqp import CUSTOMER_EVENTS_EXCHANGE, Publisher, declare_topology
from shared.db import create_pool
from shared.settings import Settings
from tests.support.clock import SteppedClock
from tests.support.customer_calls import CustomerCalls
from tests.support.tokens import TokenMint
from tests.support.waiting import eventually

# How long a worker gets to connect and start consuming.
WORKER_READY_SECONDS = 30.0


@pytest.fixture
async def jwks_settings(aiohttp_server, test_settings: Settings) -> tuple[Settings, TokenMint]:
    """Test settings whose JWKS URL is a real HTTP server publishing a test key."""
    mint = TokenMint(test_settings)

    async def certs(_request: web.Request) -> web.Response:
        return web.json_response(mint.jwks())

    app = web.Application()
    app.router.add_get("/auth/certs", certs)
    server = await aiohttp_server(app)
    settings = dataclasses.replace(
        test_settings, auth_service_url=str(server.make_url("")).rstrip("/")
    )
    mint.settings = settings
    return settings, mint


@pytest.fixture
def mint(jwks_settings: tuple[Settings, TokenMint]) -> TokenMint:
    return jwks_settings[1]


@pytest.fixture
def clock() -> SteppedClock:
    """customer_service's clock: a test moves it (`clock.advance(...)`) instead of sleeping."""
    return SteppedClock()


@pytest.fixture
async def customer_client(aiohttp_client, jwks_settings, clock: SteppedClock):
    """customer_service with its outbox relay, served in-process, on the test's `clock`."""
    settings, _ = jwks_settings
    return await aiohttp_client(create_app(settings, clock=clock))


@pytest.fixture
def headers(mint: TokenMint, unique_tenant: str) -> dict[str, str]:
    """The test tenant's headers, with a token of every scope."""
    return mint.headers(unique_tenant)


@pytest.fixture
async def pool(test_settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A pool of the test database's own, for what a test does beside the service under test."""
    pool = await create_pool(test_settings.database_url, min_size=0)
    yield pool
    await pool.close()


@pytest.fixture
async def known_tenant(unique_tenant: str, pool: asyncpg.Pool) -> str:
    """`unique_tenant`, made known to auth_service (as `tenants create` makes it): impex_worker
    refuses drops and order facts for any other."""
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO auth.tenants (id) VALUES ($1)", unique_tenant)
    return unique_tenant


@pytest.fixture
async def redis(test_settings: Settings) -> AsyncIterator[Redis]:
    """A client of the test Redis db."""
    client = Redis.from_url(test_settings.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def logs() -> Iterator[list[dict]]:
    """Structured log lines, with the fields bound per request or message."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as entries:
        yield entries


@pytest.fixture
def drop_dir(tmp_path: Path) -> Path:
    """impex_worker's IMPEX_DROP_DIR (the `worker` fixture's)."""
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
async def worker(aiohttp_client, jwks_settings, drop_dir: Path, logs) -> TestClient:
    """impex_worker in-process, consuming from the test vhost, once ready; its log lines go to
    `logs` from the start."""
    settings = dataclasses.replace(jwks_settings[0], impex_drop_dir=str(drop_dir))
    client = await aiohttp_client(create_worker_app(settings))

    async def ready() -> bool:
        return (await client.get("/readyz")).status == 200

    await eventually(ready, timeout=WORKER_READY_SECONDS, what="the worker to be ready")
    return client


@pytest.fixture
async def publisher(test_settings: Settings) -> AsyncIterator[Publisher]:
    publisher = Publisher(test_settings.amqp_url)
    yield publisher
    await publisher.close()


@pytest.fixture
async def amqp_channel(test_settings: Settings) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A plain channel in the test vhost, for raw publishes and reading queues."""
    connection = await aio_pika.connect(test_settings.amqp_url)
    yield await connection.channel()
    await connection.close()


@pytest.fixture
async def events_queue(test_settings: Settings) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """An exclusive queue bound to every customer event, in the test vhost (no auto_delete:
    a test may consume it twice; it goes with the connection)."""
    connection = await aio_pika.connect_robust(test_settings.amqp_url)
    channel = await connection.channel()
    await declare_topology(channel)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(await channel.get_exchange(CUSTOMER_EVENTS_EXCHANGE), routing_key="customer.*")
    yield queue
    await connection.close()


@pytest.fixture
def calls(customer_client, headers: dict[str, str]) -> CustomerCalls:
    """customer_service's API as the test tenant: (status, body) per call."""
    return CustomerCalls(customer_client, headers)
