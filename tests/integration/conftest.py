"""Fixtures for running customer_service in-process against the real stores."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web

from customer_service.app import create_app
from shared.db import create_pool
from shared.settings import Settings
from tests.support.clock import SteppedClock
from tests.support.customer_calls import CustomerCalls
from tests.support.tokens import TokenMint


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
    pool = await create_pool(test_settings.database_url, min_size=0, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def calls(customer_client, headers: dict[str, str]) -> CustomerCalls:
    """customer_service's API as the test tenant: (status, body) per call."""
    return CustomerCalls(customer_client, headers)
