"""The gateway process and request bodies: a 1 GiB upload streams through in constant memory;
a JSON body over 1 MiB is refused with a 413 problem before it reaches the service.

The gateway runs as a process of its own, so its peak resident set (VmHWM) is its own; the
upstream that counts the upload is served in-process.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from gateway.proxy import UPLOAD_BODY_LIMIT
from shared.authz import WRITE_IMPEX
from shared.settings import Settings
from shared.web import JSON_BODY_LIMIT
from tests.support.processes import free_port
from tests.support.service_process import ServiceProcess, service_process
from tests.support.tokens import TokenMint

MiB = 1024 * 1024
GiB = 1024 * MiB
# What streaming 1 GiB may add to the gateway's peak RSS: buffers, not the body (1/16 of it).
PEAK_RSS_GROWTH_LIMIT = 64 * MiB
UPLOAD_PATH = "/services/impex/api/import/batch/{batch}/file"


class CountingUpstream:
    """Stands in for customer_service: counts upload bytes as they arrive, keeps none."""

    def __init__(self) -> None:
        self.received: dict[str, int] = {}
        self.json_requests: list[str] = []
        # The body limit is the gateway's to enforce here, not this stand-in's.
        self.app = web.Application(client_max_size=2 * GiB)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_post("/api/import/batch/{batch}/file", self.upload)
        self.app.router.add_route("*", "/api/v2/{path:.*}", self.json_endpoint)

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def upload(self, request: web.Request) -> web.Response:
        batch = request.match_info["batch"]
        total = 0
        async for chunk in request.content.iter_any():
            total += len(chunk)
        self.received[batch] = total
        return web.json_response({"bytes": total}, status=202)

    async def json_endpoint(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.json_requests.append(request.path)  # only once the whole body has arrived
        return web.json_response({"bytes": len(body)})


def _zeros(total: int, chunk_size: int = MiB) -> AsyncIterator[bytes]:
    """`total` bytes made on the fly from one reused chunk: the test never holds the body."""
    chunk = bytes(chunk_size)

    async def generate() -> AsyncIterator[bytes]:
        left = total
        while left > 0:
            piece = chunk if left >= chunk_size else chunk[:left]
            left -= len(piece)
            yield piece

    return generate()


@pytest.fixture
def counting_upstream() -> CountingUpstream:
    return CountingUpstream()


@pytest.fixture
async def gateway_process(
    aiohttp_server,
    jwks_settings: tuple[Settings, TokenMint],
    counting_upstream: CountingUpstream,
    tmp_path,
) -> AsyncIterator[ServiceProcess]:
    settings, _ = jwks_settings
    upstream_server = await aiohttp_server(counting_upstream.app)
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "GATEWAY_ADMIN_PORT": str(free_port()),
        "CUSTOMER_SERVICE_URL": str(upstream_server.make_url("")).rstrip("/"),
        "AUTH_SERVICE_URL": settings.auth_service_url,
        "PUBLIC_BASE_URL": settings.public_base_url,
        "REDIS_URL": settings.redis_url,
        "LOG_LEVEL": "WARNING",
    }
    with service_process("gateway", port, env, tmp_path) as gateway:
        await gateway.wait_healthy()
        yield gateway


async def _upload(
    http: aiohttp.ClientSession, gateway: ServiceProcess, headers: dict, batch: str, size: int
) -> tuple[int, dict]:
    async with http.post(
        gateway.base_url + UPLOAD_PATH.format(batch=batch),
        data=_zeros(size),
        headers={
            **headers,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(size),
        },
    ) as response:
        return response.status, orjson.loads(await response.read())


async def test_a_gibibyte_upload_streams_through_the_gateway_in_constant_memory(
    gateway_process: ServiceProcess,
    counting_upstream: CountingUpstream,
    mint: TokenMint,
    unique_tenant: str,
    record_property,
) -> None:
    assert GiB == UPLOAD_BODY_LIMIT  # exactly the largest upload the gateway lets through
    headers = mint.headers(unique_tenant, (WRITE_IMPEX,))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        # A small upload first: the baseline then includes the path's one-off costs (JWKS fetch,
        # upstream pool, lazy imports), so the growth measured after is what the size costs.
        assert await _upload(http, gateway_process, headers, "warm-up", 8 * MiB) == (
            202,
            {"bytes": 8 * MiB},
        )
        baseline = gateway_process.peak_rss_bytes()

        status, body = await _upload(http, gateway_process, headers, "big", GiB)

        peak = gateway_process.peak_rss_bytes()
    assert status == 202, body
    assert body == {"bytes": GiB}
    assert counting_upstream.received["big"] == GiB
    growth = peak - baseline
    record_property("gateway_peak_rss_baseline_mib", round(baseline / MiB, 1))
    record_property("gateway_peak_rss_after_mib", round(peak / MiB, 1))
    print(
        f"gateway VmHWM: baseline {baseline / MiB:.1f} MiB, after 1 GiB {peak / MiB:.1f} MiB,"
        f" growth {growth / MiB:.1f} MiB"
    )
    assert growth < PEAK_RSS_GROWTH_LIMIT, f"peak RSS grew by {growth / MiB:.1f} MiB"


async def test_a_json_body_over_one_mebibyte_is_a_413_problem(
    gateway_process: ServiceProcess,
    counting_upstream: CountingUpstream,
    mint: TokenMint,
    unique_tenant: str,
) -> None:
    headers = {**mint.headers(unique_tenant), "Content-Type": "application/json"}
    url = f"{gateway_process.base_url}/services/customerservice/api/v2/customers"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=b" " * (JSON_BODY_LIMIT + 1), headers=headers) as too_big:
            assert too_big.status == 413
            assert too_big.content_type == "application/problem+json"
            problem = await too_big.json()
        assert problem["status"] == 413 and problem["title"] == "Payload Too Large"
        assert counting_upstream.json_requests == []  # refused before reaching the service
        # The control: exactly 1 MiB passes.
        async with http.post(url, data=b" " * JSON_BODY_LIMIT, headers=headers) as at_limit:
            assert at_limit.status == 200
            assert (await at_limit.json())["bytes"] == JSON_BODY_LIMIT


async def test_a_chunked_json_body_is_cut_off_past_one_mebibyte(
    gateway_process: ServiceProcess,
    counting_upstream: CountingUpstream,
    mint: TokenMint,
    unique_tenant: str,
) -> None:
    """Without Content-Length the gateway counts as it streams, and stops at the limit."""
    headers = {**mint.headers(unique_tenant), "Content-Type": "application/json"}
    url = f"{gateway_process.base_url}/services/customerservice/api/v2/customers"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url, data=_zeros(JSON_BODY_LIMIT + MiB, 64 * 1024), headers=headers
        ) as r:
            assert r.status == 413
            assert (await r.json())["title"] == "Payload Too Large"
        assert counting_upstream.json_requests == []  # the service never got a whole body
        async with http.post(url, data=_zeros(JSON_BODY_LIMIT, 64 * 1024), headers=headers) as r:
            assert r.status == 200
            assert (await r.json())["bytes"] == JSON_BODY_LIMIT
