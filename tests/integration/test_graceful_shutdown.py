"""SIGTERM, as an orchestrator sends it: the gateway and customer_service stop accepting, finish
the requests in flight, close their pools and exit 0 within the grace period.

Each service runs as a process of its own on a free port; what it talks to (the JWKS, the
gateway's upstream) is served in-process, so the test decides when in-flight work may finish
instead of sleeping and hoping.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import aiohttp
import orjson
from aiohttp import web

from shared.app_factory import SHUTDOWN_GRACE_SECONDS
from shared.settings import Settings
from tests.support.processes import free_port
from tests.support.service_process import ServiceProcess, service_process
from tests.support.tokens import TokenMint
from tests.support.waiting import eventually

# What a clean shutdown never leaves in a service's log.
UNCLEAN = ("Traceback", "Unclosed", "Task was destroyed", "Task exception was never retrieved")


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment `python -m <service>` reads, pointing at the test stores and stand-ins."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "WISHLIST_DATABASE_URL": settings.wishlist_database_url,
        "REDIS_URL": settings.redis_url,
        "AMQP_URL": settings.amqp_url,
        "AUTH_SERVICE_URL": settings.auth_service_url,
        "PUBLIC_BASE_URL": settings.public_base_url,
        "PSEUDONYM_KEY": settings.pseudonym_key,
        "LOG_LEVEL": "INFO",
        **extra,
    }


def assert_clean_exit(service: ServiceProcess, code: int) -> None:
    log = service.log()
    assert code == 0, log[-3000:]
    for sign in UNCLEAN:
        assert sign not in log, log[-3000:]


class GatedUpstream:
    """Stands in for customer_service: `/api/v2/slow` answers only once the test releases it."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/api/v2/slow", self.slow)

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def slow(self, _request: web.Request) -> web.Response:
        self.arrived.set()
        await self.release.wait()
        # Big enough that the gateway streams it (over its whole-read limit), so "complete"
        # covers a body relayed chunk by chunk after SIGTERM.
        return web.json_response({"finished": True, "padding": "x" * (512 * 1024)})


async def test_gateway_finishes_the_request_in_flight_and_refuses_new_ones_after_sigterm(
    aiohttp_server, jwks_settings: tuple[Settings, TokenMint], unique_tenant: str, tmp_path
) -> None:
    settings, mint = jwks_settings
    upstream = GatedUpstream()
    upstream_server = await aiohttp_server(upstream.app)
    port = free_port()
    env = service_env(
        settings,
        GATEWAY_PORT=str(port),
        GATEWAY_ADMIN_PORT=str(free_port()),
        CUSTOMER_SERVICE_URL=str(upstream_server.make_url("")).rstrip("/"),
    )
    with service_process("gateway", port, env, tmp_path) as gateway:
        await gateway.wait_healthy()
        async with aiohttp.ClientSession() as http:

            async def slow_request() -> tuple[int, dict]:
                async with http.get(
                    f"{gateway.base_url}/services/customerservice/api/v2/slow",
                    headers=mint.headers(unique_tenant),
                ) as response:
                    return response.status, orjson.loads(await response.read())

            in_flight = asyncio.create_task(slow_request())
            await asyncio.wait_for(upstream.arrived.wait(), timeout=30)

            gateway.send(signal.SIGTERM)
            await eventually(gateway.refuses_connections, timeout=SHUTDOWN_GRACE_SECONDS)
            assert not in_flight.done()  # still waiting for its upstream, not cut off
            upstream.release.set()

            status, body = await asyncio.wait_for(in_flight, timeout=SHUTDOWN_GRACE_SECONDS)
            assert status == 200
            assert body["finished"] is True and len(body["padding"]) == 512 * 1024
        code = await gateway.wait_exit(timeout=SHUTDOWN_GRACE_SECONDS)
        assert_clean_exit(gateway, code)


async def _gated_json(
    payload: dict, started: list[int], index: int, gate: asyncio.Event
) -> AsyncIterator[bytes]:
    # With `Expect: 100-continue` the client asks for the body only once the service has
    # answered "100 Continue", i.e. has taken the request and is waiting in its handler.
    started.append(index)
    await gate.wait()
    yield orjson.dumps(payload)


async def test_customer_service_completes_every_request_in_flight_at_sigterm(
    jwks_settings: tuple[Settings, TokenMint], unique_tenant: str, tmp_path
) -> None:
    """A batch of creations, each taken by the service but its body still on the way when
    SIGTERM arrives: all of them are answered in full (201, the stored customer)."""
    settings, mint = jwks_settings
    port = free_port()
    env = service_env(settings, CUSTOMER_SERVICE_PORT=str(port))
    batch = 16
    with service_process("customer_service", port, env, tmp_path) as service:
        await service.wait_healthy()
        started: list[int] = []
        gate = asyncio.Event()
        connector = aiohttp.TCPConnector(limit=batch)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def create(index: int) -> tuple[int, dict]:
                payload = {"email": f"drain-{index}@example.com", "customerRef": f"D-{index}"}
                async with http.post(
                    f"{service.base_url}/api/v2/customers",
                    data=_gated_json(payload, started, index, gate),
                    headers={**mint.headers(unique_tenant), "Content-Type": "application/json"},
                    expect100=True,
                ) as response:
                    return response.status, orjson.loads(await response.read())

            requests = [asyncio.create_task(create(index)) for index in range(batch)]

            async def all_taken() -> bool:
                return len(started) == batch

            await eventually(all_taken, timeout=30)
            service.send(signal.SIGTERM)
            await eventually(service.refuses_connections, timeout=SHUTDOWN_GRACE_SECONDS)
            gate.set()

            results = await asyncio.wait_for(
                asyncio.gather(*requests), timeout=SHUTDOWN_GRACE_SECONDS
            )
        assert [status for status, _ in results] == [201] * batch, results
        assert sorted(body["customerRef"] for _, body in results) == sorted(
            f"D-{index}" for index in range(batch)
        )
        code = await service.wait_exit(timeout=SHUTDOWN_GRACE_SECONDS)
        assert_clean_exit(service, code)
