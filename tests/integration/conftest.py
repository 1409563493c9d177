"""Fixtures for running customer_service in-process against the real stores."""

from __future__ import annotations

import dataclasses

import pytest
from aiohttp import web

from customer_service.app import create_app
from shared.settings import Settings
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
async def customer_client(aiohttp_client, jwks_settings):
    """customer_service with its outbox relay, served in-process."""
    settings, _ = jwks_settings
    return await aiohttp_client(create_app(settings))
