"""auth_service against the real PostgreSQL and Redis: provisioning, tokens, keys, revocation."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from structlog.testing import capture_logs

from auth_service import cli, provisioning
from auth_service.app import create_app
from auth_service.app_keys import KEYRING
from auth_service.brute_force import FailureLimits
from auth_service.client_secrets import verify_secret
from auth_service.metrics import REGISTRY
from auth_service.provisioning import NewCredentials
from auth_service.revocation_sync import RevocationSync
from auth_service.signing import KeyRing
from shared import db
from shared.authz import ALL_SCOPES, DEFAULT_SCOPES, WRITE_ORDERS
from shared.revocations import REVOCATIONS_CHANNEL, revoked_client_key, revoked_token_key
from shared.settings import Settings
from shared.tokens import InvalidToken, TokenVerifier
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
OIDC = "/auth/realms/{tenant}/protocol/openid-connect"
FORM = "application/x-www-form-urlencoded"
ALL = " ".join(DEFAULT_SCOPES)
_addresses = itertools.count(1)


def fresh_address() -> str:
    """A client address no other test uses, so failure counters never leak between tests."""
    n = next(_addresses) + os.getpid() % 1000 * 10_000
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def new_client(aiohttp_client: Any, settings: Settings, **kwargs: Any) -> TestClient:
    """A test client of a fresh auth app; every request comes from its own address."""
    return await aiohttp_client(
        create_app(settings, **kwargs), headers={"X-Forwarded-For": fresh_address()}
    )


@pytest.fixture
async def client(aiohttp_client: Any, test_settings: Settings) -> TestClient:
    return await new_client(aiohttp_client, test_settings)


@pytest.fixture
async def creds(pool: asyncpg.Pool, unique_tenant: str) -> NewCredentials:
    async with db.connection(pool) as conn:
        return await provisioning.create_tenant_with_client(conn, unique_tenant)


async def run_cli(settings: Settings, *argv: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    assert await cli.run(argv, settings, stdout=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def post_token(
    client: TestClient,
    creds: NewCredentials,
    *,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> Any:
    form = {"grant_type": "client_credentials", "client_id": creds.client_id}
    form["client_secret"] = creds.client_secret
    form.update(extra)
    return await client.post(
        OIDC.format(tenant=creds.tenant) + "/token", data=form, headers=headers
    )


async def access_token(client: TestClient, creds: NewCredentials, **extra: str) -> str:
    response = await post_token(client, creds, **extra)
    assert response.status == 200, await response.text()
    return (await response.json())["access_token"]


async def introspect(client: TestClient, creds: NewCredentials, token: str) -> dict[str, Any]:
    response = await client.post(
        OIDC.format(tenant=creds.tenant) + "/token/introspect",
        data={"token": token},
        headers={"Authorization": basic(creds.client_id, creds.client_secret)},
    )
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    return await response.json()


async def revoke(client: TestClient, creds: NewCredentials, token: str) -> Any:
    return await client.post(
        OIDC.format(tenant=creds.tenant) + "/revoke",
        data={"token": token, "token_type_hint": "access_token"},
        headers={"Authorization": basic(creds.client_id, creds.client_secret)},
    )


def verifier_for(client: TestClient, settings: Settings) -> TokenVerifier:
    return TokenVerifier(
        jwks_url=str(client.make_url("/auth/certs")),
        audience=settings.token_audience,
        issuer_for=settings.issuer_for,
        leeway_seconds=settings.token_leeway_seconds,
        min_refresh_seconds=0,
    )


# --- provisioning CLI ------------------------------------------------------------------------


def test_tenants_create_cli_prints_credentials_and_stores_only_a_hash(
    test_settings: Settings, unique_tenant: str
) -> None:
    """`python -m auth_service tenants create` prints one JSON line; the secret is stored hashed."""
    env = {**os.environ, "DATABASE_URL": test_settings.database_url, "LOG_LEVEL": "INFO"}
    result = subprocess.run(
        [sys.executable, "-m", "auth_service", "tenants", "create", unique_tenant],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    output = json.loads(lines[0])
    assert set(output) == {"tenant", "client_id", "client_secret"}
    assert output["tenant"] == unique_tenant
    assert len(output["client_secret"]) >= 40

    async def stored() -> asyncpg.Record:
        conn = await asyncpg.connect(test_settings.database_url)
        try:
            return await conn.fetchrow(
                "SELECT secret_hash, scopes FROM auth.clients"
                " WHERE tenant_id = $1 AND client_id = $2",
                unique_tenant,
                output["client_id"],
            )
        finally:
            await conn.close()

    row = asyncio.run(stored())
    assert row["secret_hash"].startswith("scrypt$16384$8$1$")
    assert output["client_secret"] not in row["secret_hash"]
    assert verify_secret(output["client_secret"], row["secret_hash"])
    assert list(row["scopes"]) == list(DEFAULT_SCOPES)
    assert output["client_secret"] not in result.stderr


def test_tenants_create_cli_refuses_a_malformed_tenant_id(test_settings: Settings) -> None:
    """A tenant id outside ^[A-Za-z0-9_-]{1,64}$ exits 2, a message on stderr, stdout empty."""
    result = subprocess.run(
        [sys.executable, "-m", "auth_service", "tenants", "create", "no spaces!"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": test_settings.database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "invalid tenant id" in result.stderr


async def test_tenants_create_twice_adds_a_second_client(
    test_settings: Settings, unique_tenant: str
) -> None:
    """Creating an existing tenant keeps it and adds another client."""
    first = await run_cli(test_settings, "tenants", "create", unique_tenant)
    second = await run_cli(test_settings, "tenants", "create", unique_tenant)
    assert first[0]["client_id"] != second[0]["client_id"]
    listed = await run_cli(test_settings, "clients", "list", unique_tenant)
    assert {c["client_id"] for c in listed} == {first[0]["client_id"], second[0]["client_id"]}
    assert all("client_secret" not in c and "secret_hash" not in c for c in listed)
    assert all(c["active"] and c["scopes"] == list(DEFAULT_SCOPES) for c in listed)


async def test_clients_create_for_an_unknown_tenant_fails(test_settings: Settings) -> None:
    """`clients create` needs an existing tenant: exit 1, the reason on stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = await cli.run(
        ["clients", "create", f"missing_{uuid.uuid4().hex[:8]}"],
        test_settings,
        stdout=out,
        stderr=err,
    )
    assert code == 1
    assert out.getvalue() == ""
    assert "No tenant" in err.getvalue()


# --- token endpoint --------------------------------------------------------------------------


async def test_token_with_form_credentials(
    client: TestClient, creds: NewCredentials, test_settings: Settings
) -> None:
    """client_secret_post gets a Bearer token with every scope of the client, not cacheable."""
    response = await post_token(client, creds)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == test_settings.token_ttl_seconds
    assert body["scope"] == ALL
    assert body["access_token"].count(".") == 2


async def test_token_with_basic_credentials(client: TestClient, creds: NewCredentials) -> None:
    """client_secret_basic works without client_id/client_secret in the body."""
    response = await client.post(
        OIDC.format(tenant=creds.tenant) + "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic(creds.client_id, creds.client_secret)},
    )
    assert response.status == 200
    assert (await response.json())["scope"] == ALL


async def test_token_claims_verify_with_the_shared_token_verifier(
    client: TestClient, creds: NewCredentials, test_settings: Settings
) -> None:
    """The token verifies with shared.tokens.TokenVerifier against the app's /auth/certs."""
    token = await access_token(client, creds, scope="customers:read impex:read")
    verifier = verifier_for(client, test_settings)
    try:
        claims = await verifier.verify(token)
    finally:
        await verifier.close()
    assert claims.tenant == creds.tenant
    assert claims.client_id == creds.client_id
    assert claims.scopes == {"customers:read", "impex:read"}

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["kid"] == client.server.app[KEYRING].current_kid
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == test_settings.issuer_for(creds.tenant)
    assert payload["aud"] == test_settings.token_audience
    assert payload["sub"] == payload["azp"] == creds.client_id
    assert payload["tenant"] == creds.tenant
    assert payload["scope"] == "customers:read impex:read"
    assert payload["exp"] - payload["iat"] == test_settings.token_ttl_seconds
    assert abs(payload["iat"] - time.time()) < 5
    assert str(uuid.UUID(payload["jti"])) == payload["jti"]


async def test_a_token_with_a_tampered_tenant_fails_verification(
    client: TestClient, creds: NewCredentials, test_settings: Settings
) -> None:
    """A tampered tenant claim breaks the signature: the verifier refuses the token."""
    token = await access_token(client, creds)
    head, _payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["tenant"] = "someone_else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    verifier = verifier_for(client, test_settings)
    try:
        with pytest.raises(InvalidToken):
            await verifier.verify(f"{head}.{forged_payload}.{signature}")
    finally:
        await verifier.close()


async def test_requested_scope_subset_is_granted(client: TestClient, creds: NewCredentials) -> None:
    """A requested subset is granted exactly, in canonical order."""
    response = await post_token(client, creds, scope="impex:write customers:read")
    assert response.status == 200
    assert (await response.json())["scope"] == "customers:read impex:write"


async def test_scope_the_client_lacks_is_invalid_scope(
    client: TestClient, pool: asyncpg.Pool, creds: NewCredentials, test_settings: Settings
) -> None:
    """A read-only client asking for customers:write gets 400 invalid_scope."""
    [reader] = await run_cli(
        test_settings, "clients", "create", creds.tenant, "--scopes", "customers:read"
    )
    reader_creds = NewCredentials(creds.tenant, reader["client_id"], reader["client_secret"])
    default = await post_token(client, reader_creds)
    assert (await default.json())["scope"] == "customers:read"
    response = await post_token(client, reader_creds, scope="customers:read customers:write")
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_scope"
    unknown = await post_token(client, creds, scope="admin")
    assert unknown.status == 400
    assert (await unknown.json())["error"] == "invalid_scope"


async def test_orders_write_is_granted_only_when_asked_for_at_provisioning(
    client: TestClient, creds: NewCredentials, test_settings: Settings
) -> None:
    """orders:write is opt-in: a default client cannot get it; `--scopes` grants it."""
    refused = await post_token(client, creds, scope=WRITE_ORDERS)
    assert (await refused.json())["error"] == "invalid_scope"
    [feeder] = await run_cli(
        test_settings, "clients", "create", creds.tenant, "--scopes", f"{WRITE_ORDERS}"
    )
    feeder_creds = NewCredentials(creds.tenant, feeder["client_id"], feeder["client_secret"])
    granted = await post_token(client, feeder_creds)
    assert (await granted.json())["scope"] == WRITE_ORDERS


async def test_other_grant_types_are_unsupported(client: TestClient, creds: NewCredentials) -> None:
    """grant_type=password is 400 unsupported_grant_type."""
    response = await post_token(client, creds, grant_type="password")
    assert response.status == 400
    assert (await response.json())["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("missing", ["grant_type", "client_id", "client_secret"])
async def test_missing_fields_are_invalid_request(
    client: TestClient, creds: NewCredentials, missing: str
) -> None:
    """Leaving out grant_type, client_id or client_secret is 400 invalid_request."""
    form = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    del form[missing]
    response = await client.post(OIDC.format(tenant=creds.tenant) + "/token", data=form)
    assert response.status == 400
    assert response.headers["Cache-Control"] == "no-store"
    assert (await response.json())["error"] == "invalid_request"


async def test_non_form_body_is_invalid_request(client: TestClient, creds: NewCredentials) -> None:
    """A JSON body is 400 invalid_request (RFC 6749 JSON, not problem+json)."""
    response = await client.post(
        OIDC.format(tenant=creds.tenant) + "/token",
        json={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
    )
    assert response.status == 400
    assert response.content_type == "application/json"
    assert (await response.json())["error"] == "invalid_request"


async def test_repeated_parameter_is_invalid_request(
    client: TestClient, creds: NewCredentials
) -> None:
    """RFC 6749 §3.2: a parameter sent twice is 400 invalid_request."""
    body = (
        f"grant_type=client_credentials&client_id={creds.client_id}"
        f"&client_secret={creds.client_secret}&scope=customers:read&scope=impex:read"
    )
    response = await client.post(
        OIDC.format(tenant=creds.tenant) + "/token", data=body, headers={"Content-Type": FORM}
    )
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"


async def test_wrong_secret_is_invalid_client(client: TestClient, creds: NewCredentials) -> None:
    """A wrong secret in the form is 401 invalid_client, without a Basic challenge."""
    response = await post_token(client, creds, client_secret="not-the-secret")
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"
    assert "WWW-Authenticate" not in response.headers


async def test_wrong_basic_secret_gets_a_basic_challenge(
    client: TestClient, creds: NewCredentials
) -> None:
    """A failed Basic authentication is 401 invalid_client with WWW-Authenticate: Basic."""
    response = await client.post(
        OIDC.format(tenant=creds.tenant) + "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic(creds.client_id, "wrong")},
    )
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"] == f'Basic realm="{creds.tenant}"'


async def test_unknown_client_and_unknown_tenant_are_invalid_client(
    client: TestClient, creds: NewCredentials
) -> None:
    """An unknown client id, or a real client under another tenant's realm, is 401."""
    unknown_client = NewCredentials(creds.tenant, f"{creds.tenant}-0000", creds.client_secret)
    response = await post_token(client, unknown_client)
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"
    other_tenant = NewCredentials(f"x{creds.tenant}", creds.client_id, creds.client_secret)
    response = await post_token(client, other_tenant)
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"


async def test_token_endpoint_ignores_a_trailing_slash(
    client: TestClient, creds: NewCredentials
) -> None:
    """`…/token/` works like `…/token`."""
    response = await client.post(
        OIDC.format(tenant=creds.tenant) + "/token/",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic(creds.client_id, creds.client_secret)},
    )
    assert response.status == 200


async def test_token_metrics_count_issued_and_refused(
    client: TestClient, creds: NewCredentials
) -> None:
    """tokens_issued_total and tokens_refused_total{reason} move with the outcomes."""

    def sample(name: str, labels: dict[str, str] | None = None) -> float:
        return REGISTRY.get_sample_value(name, labels or {}) or 0.0

    issued = sample("tokens_issued_total")
    refused = sample("tokens_refused_total", {"reason": "invalid_client"})
    await access_token(client, creds)
    await post_token(client, creds, client_secret="wrong")
    assert sample("tokens_issued_total") == issued + 1
    assert sample("tokens_refused_total", {"reason": "invalid_client"}) == refused + 1


async def test_secrets_and_tokens_never_reach_the_logs(
    client: TestClient, creds: NewCredentials
) -> None:
    """Neither the client secret nor the access token appears in any log event."""
    pasted = NewCredentials(creds.tenant, creds.client_secret, "whatever")
    with capture_logs() as logs:
        token = await access_token(client, creds)
        await post_token(client, creds, client_secret="a-wrong-secret-value")
        # A secret pasted into the client_id field: logged only as a fingerprint.
        await post_token(client, pasted)
        await client.post(
            OIDC.format(tenant=creds.tenant) + "/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic(creds.client_secret, "x")},
        )
        await introspect(client, creds, token)
    text = json.dumps(logs, default=str)
    assert logs
    assert creds.client_secret not in text and creds.client_secret[:16] not in text
    assert "a-wrong-secret-value" not in text
    assert token not in text and token.split(".")[2] not in text
    failures = [event for event in logs if event["event"] == "client authentication failed"]
    assert len(failures) == 3
    assert all(set(event) >= {"tenant", "client"} for event in failures)
    assert "client_id" not in json.dumps(failures)


# --- JWKS and discovery ----------------------------------------------------------------------


async def test_jwks_publishes_the_current_key(client: TestClient, unique_tenant: str) -> None:
    """/auth/certs and the realm's certs list the same RS256 signing keys, current first."""
    suite = await client.get("/auth/certs")
    realm = await client.get(OIDC.format(tenant=unique_tenant) + "/certs")
    assert suite.status == realm.status == 200
    keys = (await suite.json())["keys"]
    assert keys == (await realm.json())["keys"]
    assert keys[0]["kid"] == client.server.app[KEYRING].current_kid
    for key in keys:
        assert {"kty", "kid", "use", "alg", "n", "e"} <= set(key)
        assert (key["kty"], key["use"], key["alg"]) == ("RSA", "sig", "RS256")
        assert "d" not in key and "p" not in key


async def test_discovery_document(
    client: TestClient, unique_tenant: str, test_settings: Settings
) -> None:
    """The OIDC discovery document names the realm's public endpoints and capabilities."""
    response = await client.get(f"/auth/realms/{unique_tenant}/.well-known/openid-configuration")
    assert response.status == 200
    doc = await response.json()
    issuer = f"{test_settings.public_base_url}/auth/realms/{unique_tenant}"
    oidc = f"{issuer}/protocol/openid-connect"
    assert doc["issuer"] == issuer
    assert doc["token_endpoint"] == f"{oidc}/token"
    assert doc["jwks_uri"] == f"{oidc}/certs"
    assert doc["revocation_endpoint"] == f"{oidc}/revoke"
    assert doc["introspection_endpoint"] == f"{oidc}/token/introspect"
    assert doc["grant_types_supported"] == ["client_credentials"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["scopes_supported"] == list(ALL_SCOPES)
    # OIDC Discovery 1.0 §3 requires these two of every provider.
    assert doc["response_types_supported"] == ["token"]
    assert doc["subject_types_supported"] == ["public"]


async def test_discovery_of_a_malformed_realm_is_not_found(client: TestClient) -> None:
    """A realm name that cannot be a tenant id is a 404 problem."""
    response = await client.get("/auth/realms/bad%20realm/.well-known/openid-configuration")
    assert response.status == 404
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("endpoint", ["token", "revoke", "token/introspect"])
async def test_oauth_endpoints_of_a_malformed_realm_are_not_found(
    client: TestClient, endpoint: str
) -> None:
    """A realm that cannot be a tenant id (here with a control character, which a Basic
    challenge could not even carry) is a 404 problem, never echoed back."""
    response = await client.post(
        f"/auth/realms/bad%08realm/protocol/openid-connect/{endpoint}",
        data={"grant_type": "client_credentials", "token": "x"},
    )
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    assert "WWW-Authenticate" not in response.headers


# --- introspection and revocation ------------------------------------------------------------


async def test_introspection_of_a_valid_token_is_active(
    client: TestClient, creds: NewCredentials, test_settings: Settings
) -> None:
    """A fresh token introspects active with its claims."""
    token = await access_token(client, creds, scope="customers:read")
    claims = jwt.decode(token, options={"verify_signature": False})
    body = await introspect(client, creds, token)
    assert body == {
        "active": True,
        "scope": "customers:read",
        "client_id": creds.client_id,
        "sub": creds.client_id,
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": test_settings.issuer_for(creds.tenant),
        "aud": test_settings.token_audience,
        "jti": claims["jti"],
        "tenant": creds.tenant,
        "token_type": "Bearer",
    }


async def test_introspection_needs_client_authentication(
    client: TestClient, creds: NewCredentials
) -> None:
    """Introspecting without valid client credentials is 401 invalid_client."""
    token = await access_token(client, creds)
    response = await client.post(
        OIDC.format(tenant=creds.tenant) + "/token/introspect",
        data={"token": token},
        headers={"Authorization": basic(creds.client_id, "wrong")},
    )
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"


async def test_introspection_of_expired_forged_or_foreign_tokens_is_inactive(
    client: TestClient, pool: asyncpg.Pool, creds: NewCredentials, test_settings: Settings
) -> None:
    """Expired, longer-lived than issued, badly signed, garbage and other tenants' tokens are
    all `{"active": false}`."""
    token = await access_token(client, creds)
    claims = jwt.decode(token, options={"verify_signature": False})
    kid, private_key = await client.server.app[KEYRING].signing_key()
    expired = jwt.encode(
        {**claims, "iat": claims["iat"] - 3600, "exp": int(time.time()) - 1},
        private_key,
        algorithm="RS256",
        headers={"kid": kid},
    )
    long_lived = jwt.encode(
        {**claims, "exp": claims["iat"] + 365 * 86400}, private_key, algorithm="RS256",
        headers={"kid": kid},
    )  # fmt: skip
    head, payload, signature = token.split(".")
    bad_signature = f"{head}.{payload}.{signature[:-4]}AAAA"
    async with db.connection(pool) as conn:
        other = await provisioning.create_tenant_with_client(conn, f"{creds.tenant}_other")
    foreign = await access_token(client, other)

    for candidate in (expired, long_lived, bad_signature, "not-a-jwt", foreign):
        assert await introspect(client, creds, candidate) == {"active": False}
    assert (await introspect(client, other, foreign))["active"] is True


async def test_revoked_token_is_inactive_marked_in_redis_and_announced(
    client: TestClient, creds: NewCredentials, redis: Redis, test_settings: Settings
) -> None:
    """Revoke: 200 empty, `revoked-token:{jti}` until exp (+leeway), a message on the channel."""
    token = await access_token(client, creds)
    claims = jwt.decode(token, options={"verify_signature": False})
    pubsub = redis.pubsub()
    await pubsub.subscribe(REVOCATIONS_CHANNEL)
    try:
        response = await revoke(client, creds, token)
        assert response.status == 200
        assert await response.read() == b""

        async def announcement() -> dict | None:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message and json.loads(message["data"]).get("jti") == claims["jti"]:
                return json.loads(message["data"])
            return None

        announced = await eventually(announcement, timeout=3, what="the revocation message")
    finally:
        await pubsub.aclose()
    assert announced == {"jti": claims["jti"], "exp": claims["exp"]}
    key = revoked_token_key(claims["jti"])
    assert await redis.get(key) == str(claims["exp"]).encode()
    expires_at = await redis.expiretime(key)
    assert expires_at == claims["exp"] + test_settings.token_leeway_seconds
    assert await introspect(client, creds, token) == {"active": False}


async def test_revoking_garbage_or_another_tenants_token_is_a_quiet_no_op(
    client: TestClient, pool: asyncpg.Pool, creds: NewCredentials, redis: Redis
) -> None:
    """RFC 7009: unknown tokens answer 200; a client cannot revoke another tenant's token."""
    async with db.connection(pool) as conn:
        other = await provisioning.create_tenant_with_client(conn, f"{creds.tenant}_other")
    foreign = await access_token(client, other)
    for candidate in ("garbage", foreign):
        response = await revoke(client, creds, candidate)
        assert response.status == 200
    jti = jwt.decode(foreign, options={"verify_signature": False})["jti"]
    assert await redis.exists(revoked_token_key(jti)) == 0
    assert (await introspect(client, other, foreign))["active"] is True


async def test_a_client_cannot_revoke_another_clients_token(
    client: TestClient, pool: asyncpg.Pool, creds: NewCredentials, redis: Redis
) -> None:
    """RFC 7009 §2.1: the token must have been issued to the revoking client; a second client
    of the same tenant is refused and the token stays active."""
    async with db.connection(pool) as conn:
        sibling = await provisioning.create_client(conn, creds.tenant)
    token = await access_token(client, creds)
    response = await revoke(client, sibling, token)
    assert response.status == 400
    assert (await response.json())["error"] == "unauthorized_client"
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert await redis.exists(revoked_token_key(jti)) == 0
    assert (await introspect(client, creds, token))["active"] is True


async def test_revoke_and_introspect_without_client_credentials_are_invalid_client(
    client: TestClient, creds: NewCredentials
) -> None:
    """Both endpoints are client-authenticated: no credentials at all is a 401 challenge."""
    token = await access_token(client, creds)
    for endpoint in ("/revoke", "/token/introspect"):
        response = await client.post(
            OIDC.format(tenant=creds.tenant) + endpoint, data={"token": token}
        )
        assert response.status == 401, endpoint
        assert (await response.json())["error"] == "invalid_client"
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


async def test_revoke_without_a_token_is_invalid_request(
    client: TestClient, creds: NewCredentials
) -> None:
    """The token parameter is required."""
    response = await client.post(
        OIDC.format(tenant=creds.tenant) + "/revoke",
        data={},
        headers={"Authorization": basic(creds.client_id, creds.client_secret)},
    )
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"


# --- client lifecycle ------------------------------------------------------------------------


async def test_revoked_client_gets_no_token_and_its_tokens_introspect_inactive(
    client: TestClient, pool: asyncpg.Pool, creds: NewCredentials, test_settings: Settings
) -> None:
    """After `clients revoke`: token endpoint says invalid_client, old tokens are inactive."""
    token = await access_token(client, creds)
    async with db.connection(pool) as conn:
        auditor = await provisioning.create_client(conn, creds.tenant)
    [revoked] = await run_cli(test_settings, "clients", "revoke", creds.tenant, creds.client_id)
    assert revoked["active"] is False and revoked["revoked_at"]
    response = await post_token(client, creds)
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"
    assert await introspect(client, auditor, token) == {"active": False}


async def test_rotate_secret_replaces_the_old_secret(
    client: TestClient, creds: NewCredentials, test_settings: Settings
) -> None:
    """`clients rotate-secret` prints a new secret once; the old one stops working."""
    [rotated] = await run_cli(
        test_settings, "clients", "rotate-secret", creds.tenant, creds.client_id
    )
    assert rotated["client_id"] == creds.client_id
    assert rotated["client_secret"] != creds.client_secret
    assert (await post_token(client, creds)).status == 401
    new_creds = NewCredentials(creds.tenant, creds.client_id, rotated["client_secret"])
    assert (await post_token(client, new_creds)).status == 200


# --- key rotation ----------------------------------------------------------------------------


async def test_key_rotation_keeps_old_tokens_valid(
    client: TestClient, creds: NewCredentials, test_settings: Settings
) -> None:
    """After `keys rotate`, new tokens carry the new kid, the JWKS lists both, both verify."""
    old_token = await access_token(client, creds)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    [rotation] = await run_cli(test_settings, "keys", "rotate")
    assert old_kid in rotation["retired"]
    new_token = await access_token(client, creds)
    assert jwt.get_unverified_header(new_token)["kid"] == rotation["kid"] != old_kid

    kids = [key["kid"] for key in (await (await client.get("/auth/certs")).json())["keys"]]
    assert kids[0] == rotation["kid"]
    assert old_kid in kids
    verifier = verifier_for(client, test_settings)
    try:
        assert (await verifier.verify(old_token)).client_id == creds.client_id
        assert (await verifier.verify(new_token)).client_id == creds.client_id
    finally:
        await verifier.close()
    assert (await introspect(client, creds, old_token))["active"] is True


async def test_retired_key_leaves_the_jwks_after_its_grace(
    pool: asyncpg.Pool, test_settings: Settings
) -> None:
    """A retired key is published for token TTL + leeway, then no more."""
    [rotation] = await run_cli(test_settings, "keys", "rotate")
    ring = KeyRing(pool, token_ttl_seconds=test_settings.token_ttl_seconds, leeway_seconds=30)
    kids = {key["kid"] for key in (await ring.jwks())["keys"]}
    assert set(rotation["retired"]) <= kids
    later = KeyRing(
        pool,
        token_ttl_seconds=test_settings.token_ttl_seconds,
        leeway_seconds=30,
        clock=lambda: time.time() + test_settings.token_ttl_seconds + 31,
    )
    assert [key["kid"] for key in (await later.jwks())["keys"]] == [rotation["kid"]]


async def test_keys_retire_keeps_the_key_published_until_its_tokens_expire(
    client: TestClient, creds: NewCredentials, test_settings: Settings
) -> None:
    """`keys retire KID`: a new current key signs; the retired one still verifies its tokens."""
    token = await access_token(client, creds)
    kid = jwt.get_unverified_header(token)["kid"]
    [retired] = await run_cli(test_settings, "keys", "retire", kid)
    assert retired["retired"] is True and retired["current"] not in (None, kid)
    assert jwt.get_unverified_header(await access_token(client, creds))["kid"] == retired["current"]
    kids = [key["kid"] for key in (await (await client.get("/auth/certs")).json())["keys"]]
    assert kids[0] == retired["current"] and kid in kids
    assert (await introspect(client, creds, token))["active"] is True
    listed = {key["kid"]: key for key in await run_cli(test_settings, "keys", "list")}
    assert listed[kid]["published"] is True and listed[kid]["current"] is False


async def test_keys_revoke_unpublishes_the_key_at_once_and_announces_it(
    client: TestClient, creds: NewCredentials, test_settings: Settings, redis: Redis
) -> None:
    """`keys revoke KID`: gone from the JWKS, its tokens inactive, `{"keys": "changed"}` sent;
    an unknown kid is exit code 1."""
    token = await access_token(client, creds)
    kid = jwt.get_unverified_header(token)["kid"]
    pubsub = redis.pubsub()
    await pubsub.subscribe(REVOCATIONS_CHANNEL)
    try:
        [revoked] = await run_cli(test_settings, "keys", "revoke", kid)

        async def announced() -> bool:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            return message is not None and json.loads(message["data"]) == {"keys": "changed"}

        await eventually(announced, timeout=5)
    finally:
        await pubsub.aclose()
    assert revoked["revoked"] is True and revoked["current"]
    kids = [key["kid"] for key in (await (await client.get("/auth/certs")).json())["keys"]]
    assert kid not in kids and revoked["current"] in kids
    assert await introspect(client, creds, token) == {"active": False}
    err = io.StringIO()
    assert await cli.run(["keys", "revoke", "no-such-kid"], test_settings, stderr=err) == 1
    assert "no-such-kid" in err.getvalue()
    # Older kids may start with '-': after `--` they are kids, not options.
    assert await cli.run(["keys", "revoke", "--", "-old-kid"], test_settings, stderr=err) == 1


# --- revocations in PostgreSQL ---------------------------------------------------------------


async def test_revocations_are_restored_to_a_flushed_redis_from_postgresql(
    client: TestClient, creds: NewCredentials, redis: Redis, pool: asyncpg.Pool,
    test_settings: Settings,
) -> None:  # fmt: skip
    """Revoked token and client survive FLUSHDB: the sync writes them back and announces them;
    introspection (PostgreSQL) says inactive even before that."""
    token = await access_token(client, creds)
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert (await revoke(client, creds, token)).status == 200
    async with db.connection(pool) as conn:
        gone = await provisioning.create_client(conn, creds.tenant)
    await run_cli(test_settings, "clients", "revoke", gone.tenant, gone.client_id)
    await redis.flushdb()  # this slot's own test db
    assert await introspect(client, creds, token) == {"active": False}

    sync = RevocationSync(pool, redis, token_lifetime_seconds=930)
    assert await sync.sync_once() >= 2
    assert await redis.exists(revoked_token_key(jti))
    assert await redis.exists(revoked_client_key(gone.tenant, gone.client_id))
    assert await sync.sync_once() == 0  # nothing missing any more


# --- brute force -----------------------------------------------------------------------------


async def test_hammering_address_is_throttled_but_the_client_elsewhere_is_not(
    client: TestClient, creds: NewCredentials
) -> None:
    """10 failures from one address → 429 slow_down + Retry-After; another address still works."""
    attacker = {"X-Forwarded-For": fresh_address()}
    for _ in range(10):
        response = await post_token(client, creds, client_secret="guess", headers=attacker)
        assert response.status == 401
    throttled = await post_token(client, creds, client_secret="guess", headers=attacker)
    assert throttled.status == 429
    assert (await throttled.json())["error"] == "slow_down"
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    # Even the right secret is refused from the throttled address…
    assert (await post_token(client, creds, headers=attacker)).status == 429
    # …while the legitimate client, from its own address, is not locked out.
    elsewhere = await post_token(client, creds, headers={"X-Forwarded-For": fresh_address()})
    assert elsewhere.status == 200


async def test_many_addresses_failing_for_one_client_slow_it_down_but_never_lock_it_out(
    aiohttp_client: Any, test_settings: Settings, creds: NewCredentials
) -> None:
    """Past the per-client limit, wrong secrets from anywhere get 429 slow_down, while the right
    secret, judged first, still gets a token: others' failures do not lock the client out."""
    limited = await new_client(
        aiohttp_client,
        test_settings,
        failure_limits=FailureLimits(per_client_address=3, per_address=3, per_client=4),
    )
    for _ in range(4):
        response = await post_token(
            limited, creds, client_secret="guess", headers={"X-Forwarded-For": fresh_address()}
        )
        assert response.status == 401
    response = await post_token(
        limited, creds, client_secret="guess", headers={"X-Forwarded-For": fresh_address()}
    )
    assert response.status == 429
    assert (await response.json())["error"] == "slow_down"
    assert (
        await post_token(limited, creds, headers={"X-Forwarded-For": fresh_address()})
    ).status == 200


async def test_failures_from_one_address_do_not_throttle_other_clients_or_addresses(
    client: TestClient, creds: NewCredentials, pool: asyncpg.Pool
) -> None:
    """Ten wrong secrets for one client from one address: that pair is throttled, but another
    client from the same address, and the same client from elsewhere, are not."""
    attacker = {"X-Forwarded-For": fresh_address()}
    for _ in range(10):
        assert (
            await post_token(client, creds, client_secret="guess", headers=attacker)
        ).status == 401
    assert (await post_token(client, creds, client_secret="guess", headers=attacker)).status == 429
    async with db.connection(pool) as conn:
        sibling = await provisioning.create_client(conn, creds.tenant)
    assert (await post_token(client, sibling, headers=attacker)).status == 200
    assert (
        await post_token(client, creds, headers={"X-Forwarded-For": fresh_address()})
    ).status == 200


async def test_concurrent_attempts_cannot_exceed_the_limit(
    client: TestClient, creds: NewCredentials
) -> None:
    """Thirty wrong secrets at once from one address: at most ten are judged (401), the rest
    are throttled, however the requests interleave."""
    attacker = {"X-Forwarded-For": fresh_address()}
    responses = await asyncio.gather(
        *(post_token(client, creds, client_secret="guess", headers=attacker) for _ in range(30))
    )
    statuses = sorted(response.status for response in responses)
    assert statuses.count(401) == 10, statuses
    assert statuses.count(429) == 20, statuses


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    aiohttp_client: Any, test_settings: Settings, creds: NewCredentials
) -> None:
    """With the test client's address (127.0.0.1) not a trusted proxy, every request counts
    against 127.0.0.1, whatever X-Forwarded-For claims."""
    untrusted = dataclasses.replace(test_settings, trusted_proxy_cidrs=("192.0.2.0/24",))
    limited = await aiohttp_client(
        create_app(untrusted, failure_limits=FailureLimits(per_client_address=3))
    )
    for _ in range(3):
        response = await post_token(
            limited, creds, client_secret="guess", headers={"X-Forwarded-For": fresh_address()}
        )
        assert response.status == 401
    response = await post_token(limited, creds, headers={"X-Forwarded-For": fresh_address()})
    assert response.status == 429


async def test_token_issue_goes_on_when_redis_is_down(
    aiohttp_client: Any, test_settings: Settings, creds: NewCredentials
) -> None:
    """Redis unreachable: the brute-force limit is skipped, tokens are still issued."""
    dead_redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        broken = await new_client(aiohttp_client, test_settings, redis=dead_redis)
        assert (await post_token(broken, creds)).status == 200
        assert (await post_token(broken, creds, client_secret="wrong")).status == 401
        token = await access_token(broken, creds)
        response = await revoke(broken, creds, token)
        assert response.status == 503
        assert (await response.json())["error"] == "temporarily_unavailable"
    finally:
        await dead_redis.aclose()


# --- operations ------------------------------------------------------------------------------


async def test_ready_when_database_redis_and_a_signing_key_answer(client: TestClient) -> None:
    """/readyz checks PostgreSQL, Redis and the signing key."""
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json()) == {"status": "ready"}
