"""Dot segments never reach a service: the gateway refuses a path that would climb out of its
prefix (`..`, `.`, however encoded) before routing it anywhere."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from aiohttp import web

from gateway.app import create_app
from tests.support.raw_http import raw_get

API = "/services/customerservice/api/v2"


class RecordingUpstream:
    """Stands in for customer_service and auth_service at once: records every path that
    reaches it (the JWKS the gateway verifies tokens with, and the route table it documents the
    API from, excepted)."""

    def __init__(self, jwks: dict) -> None:
        self.seen: list[str] = []
        self._jwks = jwks
        self.app = web.Application()
        self.app.router.add_get("/auth/certs", self.certs)
        self.app.router.add_route("*", "/{path:.*}", self.echo)

    async def certs(self, _request: web.Request) -> web.Response:
        return web.json_response(self._jwks)

    async def echo(self, request: web.Request) -> web.Response:
        self.seen.append(request.raw_path)
        return web.json_response({"path": request.path})


@pytest.fixture
async def upstream(aiohttp_server, mint) -> tuple[RecordingUpstream, str]:
    stand_in = RecordingUpstream(mint.jwks())
    server = await aiohttp_server(stand_in.app)
    return stand_in, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def gateway(aiohttp_server, jwks_settings, upstream):
    settings, mint = jwks_settings
    base = upstream[1]
    settings = dataclasses.replace(settings, customer_service_url=base, auth_service_url=base)
    mint.settings = settings
    return await aiohttp_server(create_app(settings))


CLIMBING_PATHS = (
    f"{API}/../../metrics",
    f"{API}/customers/../../../readyz",
    f"{API}/%2e%2e/%2e%2e/metrics",
    f"{API}/%2E%2e/%2e%2E/metrics",
    f"{API}/%2e./.%2E/metrics",
    f"{API}/%252e%252e/%252e%252e/metrics",  # double-encoded
    f"{API}/%25252e%25252e/metrics",  # and once more
    f"{API}/..%2f..%2fmetrics",
    f"{API}/..%5c..%5cmetrics",
    f"{API}/..\\..\\metrics",
    f"{API}/./customers",
    f"{API}/customers/%2e",
    "/services/impex/api/import/%2e%2e/%2e%2e/api/v2/customers",  # another API of the service
    "/auth/realms/x/%2e%2e/%2e%2e/%2e%2e/metrics",  # the token endpoint's prefix is public
    "/auth/%2e%2e/metrics?x=1",
)


@pytest.mark.parametrize("target", CLIMBING_PATHS)
async def test_dot_segments_are_refused_before_routing(gateway, upstream, mint, unique_tenant,
                                                       target):  # fmt: skip
    """A path with a `.` or `..` segment, plain or percent-encoded (any case, any depth of
    encoding, `/` or `\\` as separator), is a 400 problem and reaches no service."""
    status, headers, body = await raw_get(gateway.port, target, mint.headers(unique_tenant))
    assert status == 400, (target, body)
    assert headers["content-type"] == "application/problem+json"
    problem = orjson.loads(body)
    assert "_path" in problem["errors"]
    assert upstream[0].seen == []


async def test_dots_inside_a_segment_are_not_dot_segments(gateway, upstream, mint, unique_tenant):
    """Dots that are part of a name (an email, `..x`, an encoded `.` inside a word) pass."""
    for rest in ("customers/first.last@example.com/email", "customers/a..b/ref", "customers/...",
                 "customers/x%2e/ref"):  # fmt: skip
        status, _, body = await raw_get(gateway.port, f"{API}/{rest}", mint.headers(unique_tenant))
        assert status == 200, (rest, body)
        assert upstream[0].seen[-1] == f"/api/v2/{rest}"
