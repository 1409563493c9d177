"""The gateway's public port answers probes with a status only and has no /metrics; its
metrics and the readiness of each dependency are on the admin app (GATEWAY_ADMIN_PORT)."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from aiohttp import web

from gateway.app import create_app
from shared.app_factory import admin_app
from tests.support.waiting import eventually


async def _healthy(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@pytest.fixture
async def upstream_url(aiohttp_server) -> str:
    """Stands in for both services the gateway checks (their /healthz)."""
    app = web.Application()
    app.router.add_get("/healthz", _healthy)
    return str((await aiohttp_server(app)).make_url("")).rstrip("/")


async def _public_and_admin(aiohttp_client, settings):
    public_app = create_app(settings)
    public = await aiohttp_client(public_app)  # started first: its readiness checks exist
    admin = await aiohttp_client(admin_app(public_app))
    return public, admin


async def test_public_port_has_no_metrics_and_admin_port_has_them(
    aiohttp_client, jwks_settings, upstream_url
):
    settings = dataclasses.replace(
        jwks_settings[0], customer_service_url=upstream_url, auth_service_url=upstream_url
    )
    public, admin = await _public_and_admin(aiohttp_client, settings)
    assert (await public.get("/healthz")).status == 200
    hidden = await public.get("/metrics")
    assert hidden.status == 404
    assert hidden.content_type == "application/problem+json"

    async def ready() -> bool:  # the public API description is built in the background
        return (await public.get("/readyz")).status == 200

    await eventually(ready, timeout=30)
    assert await (await public.get("/readyz")).json() == {"status": "ready"}
    scraped = await admin.get("/metrics")
    assert scraped.status == 200
    assert "rate_limited_requests_total" in await scraped.text()
    assert (await admin.get("/readyz")).status == 200
    assert (await admin.get("/healthz")).status == 200


async def test_public_readiness_names_no_dependency_and_admin_readiness_does(
    aiohttp_client, jwks_settings
):
    """customer_service down: both say 503; only the admin port says which dependency."""
    settings = dataclasses.replace(jwks_settings[0], customer_service_url="http://127.0.0.1:9")
    public, admin = await _public_and_admin(aiohttp_client, settings)
    public_ready = await public.get("/readyz")
    assert public_ready.status == 503
    assert public_ready.content_type == "application/problem+json"
    body = orjson.loads(await public_ready.read())
    assert "errors" not in body
    for name in ("upstreams", "redis", "postgresql", "rabbitmq", "ClientConnectorError"):
        assert name not in orjson.dumps(body).decode()
    admin_ready = await admin.get("/readyz")
    assert admin_ready.status == 503
    assert "upstreams" in (await admin_ready.json())["errors"]
