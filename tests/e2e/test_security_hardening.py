"""Issue 10 items 1, 3, 11 and 12, end to end against a suite of its own (auth_service,
customer_service, gateway as child processes) tuned for it: the JWKS refreshed every second,
revocations re-pushed from PostgreSQL every second, and only 127.0.0.1 a trusted proxy (so a
client connecting from 127.0.0.2 is an untrusted peer)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import asyncpg
import jwt
import pytest
from redis.asyncio import Redis

from deploy.local.suite import Suite
from shared.settings import Settings
from tests.conftest import E2E_PORT_BASE
from tests.e2e.conftest import ROOT, Client, RunningSuite, obtain_client, started, suite_env
from tests.support.waiting import eventually

API = "/services/customerservice/api/v2"
# The main e2e suite has E2E_PORT_BASE..+3 (and the slot's next ports may be taken by it too).
GATEWAY_PORT = E2E_PORT_BASE + 6
CUSTOMER_PORT = GATEWAY_PORT + 1
SERVICES = ("auth_service", "customer_service", "gateway")
UNTRUSTED_SOURCE = "127.0.0.2"


@pytest.fixture(scope="module")
def hardened_suite(test_settings: Settings, tmp_path_factory) -> Iterator[RunningSuite]:
    env = {
        # +4 is the main suite's gateway admin port.
        **suite_env(test_settings, gateway_port=GATEWAY_PORT, admin_port=E2E_PORT_BASE + 5),
        "JWKS_REFRESH_SECONDS": "1",
        "REVOCATION_RESYNC_SECONDS": "1",
        "TRUSTED_PROXY_CIDRS": "127.0.0.1/32,::1/128",
    }
    suite = Suite(env=env, log_dir=tmp_path_factory.mktemp("hardened-suite-logs"))
    with started(suite, SERVICES, timeout=60) as running:
        yield running


@pytest.fixture
async def hardened_client(hardened_suite, http, unique_tenant) -> Client:
    return await obtain_client(hardened_suite, http, unique_tenant)


@pytest.fixture
async def conn(test_settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(test_settings.database_url)
    yield connection
    await connection.close()


def run_cli(suite: RunningSuite, *args: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "auth_service", *args],
        env=suite.env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def realm(suite: RunningSuite, tenant: str) -> str:
    return f"{suite.base_url}/auth/realms/{tenant}/protocol/openid-connect"


async def statuses(http: aiohttp.ClientSession, tenant: str, token: str) -> tuple[int, int]:
    """A read of an unknown customer through the gateway and straight from customer_service:
    404 once authorised, 401 when the token is refused."""
    headers = {"Authorization": f"Bearer {token}", "X-TWC-Tenant": tenant}
    path = f"/customers/{uuid.uuid4()}"
    async with http.get(f"http://127.0.0.1:{GATEWAY_PORT}{API}{path}", headers=headers) as r1:
        via_gateway = r1.status
    async with http.get(f"http://127.0.0.1:{CUSTOMER_PORT}/api/v2{path}", headers=headers) as r2:
        direct = r2.status
    return via_gateway, direct


async def refused_everywhere(http: aiohttp.ClientSession, tenant: str, token: str) -> None:
    async def refused() -> bool:
        return await statuses(http, tenant, token) == (401, 401)

    await eventually(refused, timeout=15.0, interval=0.2)


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


async def token_status(
    http: aiohttp.ClientSession, suite: RunningSuite, tenant: str, form: dict[str, str], **kw
) -> int:
    async with http.post(
        f"{realm(suite, tenant)}/token", data={"grant_type": "client_credentials", **form}, **kw
    ) as response:
        return response.status


# --- item 1: key rotation retires keys ------------------------------------------------------


async def test_a_revoked_signing_key_is_refused_by_long_running_verifiers(
    hardened_suite, http, hardened_client: Client
):
    """`keys revoke KID`: the gateway and customer_service, running all along, refuse tokens it
    signed; auth_service signs new tokens with a fresh key, which they accept."""
    client = hardened_client
    assert await statuses(http, client.tenant, client.token) == (404, 404)
    [revoked] = run_cli(hardened_suite, "keys", "revoke", kid_of(client.token))
    assert revoked["revoked"] is True and revoked["current"]
    await refused_everywhere(http, client.tenant, client.token)

    form = {"client_id": client.client_id, "client_secret": client.client_secret}
    async with http.post(
        f"{realm(hardened_suite, client.tenant)}/token",
        data={"grant_type": "client_credentials", **form},
    ) as response:
        fresh = (await response.json())["access_token"]
    assert kid_of(fresh) == revoked["current"]

    async def accepted() -> bool:
        return await statuses(http, client.tenant, fresh) == (404, 404)

    await eventually(accepted, timeout=15.0, interval=0.2)
    listed = {key["kid"]: key for key in run_cli(hardened_suite, "keys", "list")}
    assert listed[kid_of(client.token)]["published"] is False
    assert listed[kid_of(client.token)]["revoked_at"] is not None
    assert listed[revoked["current"]]["current"] is True


async def test_a_key_dropped_from_the_jwks_unannounced_is_refused_within_the_refresh_interval(
    hardened_suite, http, hardened_client: Client, conn: asyncpg.Connection
):
    """No announcement at all (the key revoked straight in the database): the scheduled JWKS
    refresh alone drops it, and the tokens it verified with it, within the interval."""
    client = hardened_client
    assert await statuses(http, client.tenant, client.token) == (404, 404)
    await conn.execute(
        "UPDATE auth.signing_keys SET retired_at = now(), revoked_at = now() WHERE kid = $1",
        kid_of(client.token),
    )
    await refused_everywhere(http, client.tenant, client.token)
    run_cli(hardened_suite, "keys", "rotate")  # a current key again, for the tests after


async def test_a_token_living_longer_than_the_configured_lifetime_is_refused(
    hardened_suite, http, hardened_client: Client, conn: asyncpg.Connection
):
    """Signed with the suite's own key (as with a leaked key): a token whose exp - iat exceeds
    TOKEN_TTL_SECONDS + leeway is refused everywhere; the same token with the normal lifetime
    is accepted."""
    client = hardened_client
    kid = kid_of(client.token)
    pem = await conn.fetchval("SELECT private_key_pem FROM auth.signing_keys WHERE kid = $1", kid)
    claims = jwt.decode(client.token, options={"verify_signature": False})
    now = int(time.time())

    def signed(lifetime: int) -> str:
        body = {**claims, "iat": now, "exp": now + lifetime, "jti": str(uuid.uuid4())}
        return jwt.encode(body, pem, algorithm="RS256", headers={"kid": kid})

    normal = signed(900)

    async def accepted() -> bool:
        return await statuses(http, client.tenant, normal) == (404, 404)

    # The key may be new (the test before rotates): a verifier fetches an unknown kid's JWKS at
    # most once per min_refresh_seconds, so the first answer can still be a 401.
    await eventually(accepted, timeout=15.0, interval=0.2)
    assert await statuses(http, client.tenant, signed(900 + 30 + 60)) == (401, 401)
    assert await statuses(http, client.tenant, signed(10 * 365 * 86400)) == (401, 401)


# --- item 3: brute-force limits keyed on the real client address ----------------------------


async def test_failures_from_one_forwarded_address_lock_out_no_other_client_or_address(
    hardened_suite, http, hardened_client: Client
):
    """Behind a trusted proxy (here: the test, from 127.0.0.1) ten wrong secrets from one
    forwarded address throttle that address for that client only."""
    client = hardened_client
    attacker = {"X-Forwarded-For": "203.0.113.10"}
    wrong = {"client_id": client.client_id, "client_secret": "guess"}
    right = {"client_id": client.client_id, "client_secret": client.client_secret}
    for _ in range(10):
        status = await token_status(http, hardened_suite, client.tenant, wrong, headers=attacker)
        assert status == 401
    assert await token_status(http, hardened_suite, client.tenant, wrong, headers=attacker) == 429
    elsewhere = {"X-Forwarded-For": "198.51.100.20"}
    assert await token_status(http, hardened_suite, client.tenant, right, headers=elsewhere) == 200
    sibling = run_cli(hardened_suite, "clients", "create", client.tenant)[0]
    sibling_form = {"client_id": sibling["client_id"], "client_secret": sibling["client_secret"]}
    status = await token_status(http, hardened_suite, client.tenant, sibling_form, headers=attacker)
    assert status == 200


async def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    hardened_suite, hardened_client: Client
):
    """From 127.0.0.2 (no trusted proxy) a fresh X-Forwarded-For on every attempt changes
    nothing: all ten failures count against 127.0.0.2, and the eleventh is throttled."""
    client = hardened_client
    wrong = {"client_id": client.client_id, "client_secret": "guess"}
    connector = aiohttp.TCPConnector(local_addr=(UNTRUSTED_SOURCE, 0))
    async with aiohttp.ClientSession(connector=connector) as untrusted:
        for n in range(10):
            spoofed = {"X-Forwarded-For": f"192.0.2.{n + 1}"}
            status = await token_status(
                untrusted, hardened_suite, client.tenant, wrong, headers=spoofed
            )
            assert status == 401
        spoofed = {"X-Forwarded-For": "192.0.2.200"}
        status = await token_status(
            untrusted, hardened_suite, client.tenant, wrong, headers=spoofed
        )
        assert status == 429


# --- item 11: revocations survive a Redis that lost them ------------------------------------


async def test_revocations_survive_a_flushed_redis_and_restarted_verifiers(
    hardened_suite, http, hardened_client: Client, test_settings: Settings
):
    """A revoked token and a revoked client's token stay refused after the Redis db is flushed
    and the gateway and customer_service restart with nothing in memory."""
    client = hardened_client
    form = {"client_id": client.client_id, "client_secret": client.client_secret}
    async with http.post(
        f"{realm(hardened_suite, client.tenant)}/revoke", data={"token": client.token, **form}
    ) as response:
        assert response.status == 200
    other = await obtain_client(hardened_suite, http, f"t_{uuid.uuid4().hex[:12]}")
    run_cli(hardened_suite, "clients", "revoke", other.tenant, other.client_id)
    await refused_everywhere(http, client.tenant, client.token)
    await refused_everywhere(http, other.tenant, other.token)

    redis = Redis.from_url(test_settings.redis_url)  # this slot's own test db
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()
    for service in ("gateway", "customer_service"):
        hardened_suite.suite.stop_service(service)
        hardened_suite.suite.start_service(service)
    await asyncio.to_thread(hardened_suite.suite.wait_ready, 60)

    await refused_everywhere(http, client.tenant, client.token)
    await refused_everywhere(http, other.tenant, other.token)
    async with http.post(
        f"{realm(hardened_suite, client.tenant)}/token/introspect",
        data={"token": client.token, **form},
    ) as response:
        assert await response.json() == {"active": False}


# --- item 12: no secrets or tokens in the logs ----------------------------------------------


async def test_the_service_logs_hold_no_token_and_no_pasted_secret(
    hardened_suite, http, hardened_client: Client
):
    """A secret pasted into the client_id field, tokens good and bad, Authorization headers:
    none of it appears in any service's log."""
    client = hardened_client
    pasted = f"{client.client_secret}{uuid.uuid4().hex}"
    await token_status(
        http, hardened_suite, client.tenant, {"client_id": pasted, "client_secret": "x"}
    )
    forged = client.token[:-8] + "AAAAAAAA"
    for token in (client.token, forged):
        await statuses(http, client.tenant, token)
    logs = "".join(
        (hardened_suite.suite.log_dir / f"{service}.log").read_text(errors="replace")
        for service in SERVICES
    )
    assert "client authentication failed" in logs
    assert client.client_secret not in logs
    assert pasted[:20] not in logs
    for token in (client.token, forged):
        assert token.split(".")[1] not in logs and token.split(".")[2] not in logs
