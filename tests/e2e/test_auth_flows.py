"""Auth end to end through the gateway: scopes, revocation, client revocation, key rotation,
introspection and per-tenant rate limits, driven with the operators' CLIs."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid

import aiohttp

from tests.e2e.conftest import ROOT, Client, RunningSuite, obtain_client
from tests.support.waiting import eventually

API = "/services/customerservice/api/v2"


def run_cli(running_suite: RunningSuite, module: str, *args: str) -> list[dict]:
    """An operator's CLI run against the suite's stores; its JSON output, a value per line."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=running_suite.env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def realm(running_suite: RunningSuite, tenant: str) -> str:
    return f"{running_suite.base_url}/auth/realms/{tenant}/protocol/openid-connect"


async def token_for(
    running_suite: RunningSuite, http: aiohttp.ClientSession, tenant: str, credentials: dict
) -> str:
    async with http.post(
        f"{realm(running_suite, tenant)}/token",
        data={"grant_type": "client_credentials", **credentials},
    ) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["access_token"]


async def read_status(running_suite, http, tenant: str, token: str) -> int:
    """A read of an unknown customer: 404 once authorised, 401/403 otherwise."""
    headers = {"Authorization": f"Bearer {token}", "X-TWC-Tenant": tenant}
    url = f"{running_suite.base_url}{API}/customers/{uuid.uuid4()}"
    async with http.get(url, headers=headers) as response:
        return response.status


async def test_scopes_are_enforced_per_operation(running_suite, http, client: Client):
    """A read-only client reads, and its write is a 403 naming the missing scope."""
    created = run_cli(
        running_suite, "auth_service", "clients", "create", client.tenant,
        "--scopes", "customers:read",
    )[0]  # fmt: skip
    credentials = {"client_id": created["client_id"], "client_secret": created["client_secret"]}
    token = await token_for(running_suite, http, client.tenant, credentials)
    headers = {"Authorization": f"Bearer {token}", "X-TWC-Tenant": client.tenant}

    assert await read_status(running_suite, http, client.tenant, token) == 404
    async with http.post(
        f"{running_suite.base_url}{API}/customers", json={"email": "ro@example.com"},
        headers=headers,
    ) as response:  # fmt: skip
        assert response.status == 403
        assert "customers:write" in (await response.json())["detail"]
        assert response.headers["WWW-Authenticate"] == (
            'Bearer error="insufficient_scope", scope="customers:write"'
        )
    async with http.get(
        f"{running_suite.base_url}/services/impex/api/import/batch/{uuid.uuid4()}",
        headers=headers,
    ) as response:
        assert response.status == 403
        assert "impex:read" in (await response.json())["detail"]


async def test_revoked_token_is_refused_within_a_second_and_introspects_inactive(
    running_suite, http, client: Client
):
    """RFC 7009 revoke, then the gateway refuses the token within 1 s; RFC 7662 says inactive,
    and another token of the same client keeps working."""
    credentials = {"client_id": client.client_id, "client_secret": client.client_secret}
    other = await token_for(running_suite, http, client.tenant, credentials)
    async with http.post(
        f"{realm(running_suite, client.tenant)}/token/introspect",
        data={"token": client.token, **credentials},
    ) as response:
        assert (await response.json())["active"] is True

    async with http.post(
        f"{realm(running_suite, client.tenant)}/revoke",
        data={"token": client.token, **credentials},
    ) as response:
        assert response.status == 200

    async def refused() -> bool:
        return await read_status(running_suite, http, client.tenant, client.token) == 401

    await eventually(refused, timeout=1.0)
    async with http.post(
        f"{realm(running_suite, client.tenant)}/token/introspect",
        data={"token": client.token, **credentials},
    ) as response:
        assert (await response.json()) == {"active": False}
    assert await read_status(running_suite, http, client.tenant, other) == 404


async def test_revoked_client_gets_no_token_and_its_tokens_are_refused(
    running_suite, http, client: Client
):
    assert await read_status(running_suite, http, client.tenant, client.token) == 404
    listed = run_cli(running_suite, "auth_service", "clients", "revoke", client.tenant,
                     client.client_id)[0]  # fmt: skip
    assert listed["active"] is False

    async def refused() -> bool:
        return await read_status(running_suite, http, client.tenant, client.token) == 401

    await eventually(refused, timeout=1.0)
    async with http.post(
        f"{realm(running_suite, client.tenant)}/token",
        data={"grant_type": "client_credentials", "client_id": client.client_id,
              "client_secret": client.client_secret},
    ) as response:  # fmt: skip
        assert response.status == 401
        assert (await response.json())["error"] == "invalid_client"


async def test_key_rotation_keeps_old_tokens_valid(running_suite, http, client: Client):
    """After `keys rotate` new tokens carry the new kid; tokens signed before still work."""
    before = await read_status(running_suite, http, client.tenant, client.token)
    assert before == 404
    rotated = run_cli(running_suite, "auth_service", "keys", "rotate")[0]
    credentials = {"client_id": client.client_id, "client_secret": client.client_secret}
    fresh = await token_for(running_suite, http, client.tenant, credentials)
    header = json.loads(_b64url(fresh.split(".")[0]))
    assert header["kid"] == rotated["kid"]
    async with http.get(f"{realm(running_suite, client.tenant)}/certs") as response:
        published = {key["kid"] for key in (await response.json())["keys"]}
    assert rotated["kid"] in published
    assert json.loads(_b64url(client.token.split(".")[0]))["kid"] in published

    async def accepted() -> bool:
        return await read_status(running_suite, http, client.tenant, fresh) == 404

    await eventually(accepted, timeout=10.0)
    assert await read_status(running_suite, http, client.tenant, client.token) == 404


async def test_tenant_rate_limit_answers_429_with_headers(running_suite, http, unique_tenant):
    """`python -m gateway rate-limit set` applies at once; then 429, Retry-After, RateLimit-*."""
    limited = await obtain_client(running_suite, http, unique_tenant)
    run_cli(running_suite, "gateway", "rate-limit", "set", limited.tenant, "--rate", "0.5",
            "--burst", "3")  # fmt: skip
    url = f"{running_suite.base_url}{API}/customers/{uuid.uuid4()}"
    statuses = []
    for _ in range(6):
        async with http.get(url, headers=limited.headers) as response:
            statuses.append(response.status)
            if response.status == 429:
                assert int(response.headers["Retry-After"]) >= 1
                assert response.headers["RateLimit-Remaining"] == "0"
                assert response.content_type == "application/problem+json"
    assert statuses[:3] == [404, 404, 404]
    assert 429 in statuses[3:]
    run_cli(running_suite, "gateway", "rate-limit", "clear", limited.tenant)


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
