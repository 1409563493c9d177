"""Redis stopped and started again (issue 17), on a redis-server of each test's own (stopped and
started by PID; the shared one is never touched). The policy, item by item (README, Operations):

- rate limits (gateway): fail OPEN: requests pass unlimited while Redis is down, and are limited
  again once it is back;
- revocation checks (every verifier): fail STATIC: the local copy loaded before the outage keeps
  refusing revoked tokens; a verifier that never loaded it fails CLOSED (503, not ready) until
  Redis answers; a revocation made during the outage is kept in PostgreSQL (`revoke` answers
  503) and reaches the verifiers once Redis is back;
- brute-force counters (auth_service): fail OPEN: tokens are still issued (wrong secrets get
  401, never a lock-out), auth_service stays ready (Redis reported as degraded), and the limits
  apply again once Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import jwt
import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from auth_service import provisioning
from auth_service.brute_force import FailureLimits
from gateway.app import create_app as create_gateway
from shared import db
from shared.app_keys import READINESS_CHECKS
from shared.revocations import RevocationList, publish_token_revocation
from shared.settings import Settings
from tests.integration.test_auth_service import (
    access_token,
    fresh_address,
    introspect,
    new_client,
    post_token,
    revoke,
)
from tests.integration.test_gateway import Upstream
from tests.support.processes import PrivateRedis, private_redis
from tests.support.waiting import eventually

API = "/services/customerservice/api/v2"


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


@pytest.fixture
async def gateway_settings(jwks_settings, aiohttp_server, redis_server) -> Settings:
    settings, _ = jwks_settings
    upstream = await aiohttp_server(Upstream().app)
    return dataclasses.replace(
        settings,
        customer_service_url=str(upstream.make_url("")).rstrip("/"),
        redis_url=redis_server.url,
    )


async def publish_revoked(url: str, token: str, mint) -> None:
    claims = mint.claims_of(token)
    redis = Redis.from_url(url)
    try:
        await publish_token_revocation(
            redis, claims["jti"], claims["exp"], keep_until=claims["exp"]
        )
    finally:
        await redis.aclose()


async def ready(client) -> bool:
    return (await client.get("/readyz")).status == 200


async def revocations_ready(gateway) -> bool:
    """The gateway's readiness check of its revocation list (its other check, the upstreams,
    has nothing to probe here: the stand-ins serve no /healthz)."""
    (check,) = [c for c in gateway.app[READINESS_CHECKS] if c.name == "revocations"]
    try:
        await check.probe()
    except ConnectionError:
        return False
    return True


# --- rate limits: fail open --------------------------------------------------------------------


async def test_rate_limits_fail_open_while_redis_is_down_and_apply_again_after(
    aiohttp_client, gateway_settings, redis_server, mint, unique_tenant
):
    settings = dataclasses.replace(
        gateway_settings, rate_limit_tenant_burst=2, rate_limit_tenant_per_second=0.01
    )
    gateway = await aiohttp_client(create_gateway(settings))
    await eventually(lambda: revocations_ready(gateway), timeout=30)
    headers = mint.headers(unique_tenant)

    async def status() -> int:
        return (await gateway.get(f"{API}/ping", headers=headers)).status

    assert [await status() for _ in range(3)] == [200, 200, 429]
    await asyncio.to_thread(redis_server.stop)
    with capture_logs() as logs:
        # The process remembers its refusal for at most 1 s (gateway.rate_limit): after that,
        # with Redis gone, every request passes.
        async def admitted() -> bool:
            return await status() == 200

        await eventually(admitted, timeout=5, interval=0.1, what="a request admitted")
        assert [await status() for _ in range(5)] == [200] * 5
    assert any("rate limiting skipped" in entry["event"] for entry in logs)
    await asyncio.to_thread(redis_server.start)  # back, and empty: a fresh bucket of 2

    async def limited_again() -> bool:
        return await status() == 429

    await eventually(limited_again, timeout=30, interval=0.1)


# --- revocation checks: the local copy; never loaded → closed ----------------------------------


async def test_revocations_loaded_before_the_outage_stay_enforced_through_it(
    aiohttp_client, gateway_settings, redis_server, mint, unique_tenant
):
    """Revoked before Redis stops: refused while it is down, and after it comes back empty
    (the local copy is not emptied by a reload; auth_service restores Redis from PostgreSQL)."""
    gateway = await aiohttp_client(create_gateway(gateway_settings))
    await eventually(lambda: revocations_ready(gateway), timeout=30)
    revoked = mint.token(unique_tenant)
    await publish_revoked(redis_server.url, revoked, mint)
    revoked_headers = {"Authorization": f"Bearer {revoked}", "X-TWC-Tenant": unique_tenant}

    async def refused() -> bool:
        return (await gateway.get(f"{API}/ping", headers=revoked_headers)).status == 401

    await eventually(refused, timeout=5)
    await asyncio.to_thread(redis_server.stop)
    assert await refused()
    assert (await gateway.get(f"{API}/ping", headers=mint.headers(unique_tenant))).status == 200
    assert await revocations_ready(gateway)  # its copy keeps protecting: still ready
    await asyncio.to_thread(redis_server.start)
    assert await refused()


async def test_a_verifier_started_while_redis_is_down_fails_closed_until_it_answers(
    aiohttp_client, gateway_settings, redis_server, mint, unique_tenant
):
    """It knows no revocation at all: every token gets a quick 503 (never a pass) and it is not
    ready; once Redis answers it loads the list, serves, and refuses what is revoked."""
    await asyncio.to_thread(redis_server.stop)
    gateway = await aiohttp_client(create_gateway(gateway_settings))
    headers = mint.headers(unique_tenant)
    response = await gateway.get(f"{API}/ping", headers=headers)
    assert response.status == 503
    assert response.content_type == "application/problem+json"
    assert response.headers["Retry-After"] == "1"
    assert not await revocations_ready(gateway)

    revoked = mint.token(unique_tenant)
    await asyncio.to_thread(redis_server.start)
    await publish_revoked(redis_server.url, revoked, mint)
    await eventually(lambda: revocations_ready(gateway), timeout=30, interval=0.1)
    assert (await gateway.get(f"{API}/ping", headers=headers)).status == 200
    revoked_headers = {"Authorization": f"Bearer {revoked}", "X-TWC-Tenant": unique_tenant}
    assert (await gateway.get(f"{API}/ping", headers=revoked_headers)).status == 401


# --- auth_service: brute-force counters fail open; revocations kept and announced later --------


@pytest.fixture
async def pool(test_settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(test_settings.database_url, min_size=0, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture
async def creds(pool: asyncpg.Pool, unique_tenant: str):
    async with db.connection(pool) as conn:
        return await provisioning.create_tenant_with_client(conn, unique_tenant)


@pytest.fixture
async def auth(aiohttp_client, test_settings, redis_server) -> Any:
    settings = dataclasses.replace(
        test_settings, redis_url=redis_server.url, revocation_resync_seconds=0.5
    )
    client = await new_client(
        aiohttp_client, settings, failure_limits=FailureLimits(per_client_address=3)
    )
    await eventually(lambda: ready(client), timeout=30)
    return client


async def test_brute_force_counters_fail_open_and_apply_again_after(auth, creds, redis_server):
    attacker = {"X-Forwarded-For": fresh_address()}

    async def attempt(secret: str = "guess", headers: dict | None = None) -> int:
        response = await post_token(auth, creds, client_secret=secret, headers=headers or attacker)
        return response.status

    assert [await attempt() for _ in range(4)] == [401, 401, 401, 429]
    await asyncio.to_thread(redis_server.stop)
    # Unmetered, but no lock-out: wrong secrets 401, the right one gets its token.
    assert [await attempt() for _ in range(5)] == [401] * 5
    assert await attempt(creds.client_secret) == 200
    readiness = await auth.get("/readyz")
    assert readiness.status == 200
    assert (await readiness.json())["degraded"] == {"redis": ["ConnectionError"]}
    await asyncio.to_thread(redis_server.start)
    # Redis is left alone for a few seconds after a failure; then counting resumes.
    again = {"X-Forwarded-For": fresh_address()}

    async def throttled_again() -> bool:
        return await attempt(headers=again) == 429

    await eventually(throttled_again, timeout=30, interval=0.2)
    assert (await auth.get("/readyz")).status == 200


async def test_a_revocation_during_the_outage_reaches_verifiers_once_redis_is_back(
    auth, creds, redis_server
):
    """`revoke` answers 503 (stored in PostgreSQL, not yet announced); introspection, which
    reads PostgreSQL, already says inactive; auth_service's resync announces it once Redis is
    back and a verifier's local list takes it in."""
    verifier_list = RevocationList(redis_server.url, resync_seconds=0.5)
    follower = asyncio.create_task(verifier_list.run())
    try:
        await asyncio.wait_for(verifier_list.synced.wait(), timeout=10)
        token = await access_token(auth, creds)
        claims = jwt.decode(token, options={"verify_signature": False})
        await asyncio.to_thread(redis_server.stop)
        response = await revoke(auth, creds, token)
        assert response.status == 503
        assert (await response.json())["error"] == "temporarily_unavailable"
        assert await introspect(auth, creds, token) == {"active": False}

        def revoked() -> bool:
            return verifier_list.is_revoked(
                jti=claims["jti"], tenant=creds.tenant, client_id=creds.client_id,
                issued_at=claims["iat"],
            )  # fmt: skip

        assert not revoked()
        await asyncio.to_thread(redis_server.start)

        async def announced() -> bool:
            return revoked()

        await eventually(announced, timeout=60, interval=0.1)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
