"""Attacks on the one shared token verifier (shared.tokens.TokenVerifier): each is refused.

No PostgreSQL or Redis needed: the JWKS is served over real localhost HTTP (counting fetches), and
the revocation list is filled directly, as its Redis sync would fill it (that sync itself is
tested in tests/integration/test_gateway.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import types
import uuid
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared import tokens as tokens_module
from shared.app_factory import cancel_and_wait
from shared.authz import auth_middleware
from shared.errors import Unavailable
from shared.revocations import RevocationList
from shared.settings import Settings
from shared.tokens import InvalidToken, TokenClaims, TokenVerifier
from shared.web import base_middlewares
from tests.support.tokens import TokenMint
from tests.support.waiting import eventually

TENANT = "acme"
OTHER_TENANT = "globex"
LEEWAY = 30


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _segment(data: dict[str, Any]) -> str:
    return _b64(json.dumps(data, separators=(",", ":")).encode())


class Jwks:
    """The auth_service stand-in: publishes the mint's key (and any added later), counts GETs."""

    def __init__(self, settings: Settings) -> None:
        self.mint = TokenMint(settings)
        self.extra_keys: list[dict[str, Any]] = []
        self.publishes_mint_key = True
        self.fetches = 0
        self.garbage: Any = None  # served instead of the JWKS when set

    async def certs(self, _request: web.Request) -> web.Response:
        self.fetches += 1
        if self.garbage is not None:
            return web.json_response(self.garbage)
        own = self.mint.jwks()["keys"] if self.publishes_mint_key else []
        return web.json_response({"keys": [*own, *self.extra_keys]})


@pytest.fixture
async def jwks(aiohttp_server) -> Jwks:
    stand_in = Jwks(Settings())
    app = web.Application()
    app.router.add_get("/auth/certs", stand_in.certs)
    server = await aiohttp_server(app)
    stand_in.mint.settings = Settings(auth_service_url=str(server.make_url("")).rstrip("/"))
    return stand_in


@pytest.fixture
def mint(jwks: Jwks) -> TokenMint:
    return jwks.mint


@pytest.fixture
def revocations() -> RevocationList:
    # Never run: filled by hand below, exactly as its Redis sync fills it.
    return RevocationList("redis://127.0.0.1:9/0")


def _verifier(mint: TokenMint, revocations: RevocationList, **kwargs: Any) -> TokenVerifier:
    settings = mint.settings
    return TokenVerifier(
        jwks_url=settings.jwks_url,
        audience=settings.token_audience,
        issuer_for=settings.issuer_for,
        leeway_seconds=LEEWAY,
        revocations=revocations,
        **kwargs,
    )


@pytest.fixture
async def verifier(mint: TokenMint, revocations: RevocationList):
    instance = _verifier(mint, revocations)
    yield instance
    await instance.close()


def _signed(mint: TokenMint, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    """RS256 with the published key; `headers` replace the default `{"kid": mint.kid}`."""
    return jwt.encode(
        claims, mint.private_key, algorithm="RS256", headers=headers or {"kid": mint.kid}
    )


async def _refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token)
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert "Error" not in caught.value.detail  # plain words, never a library's class name
    return caught.value.detail


# ------------------------------------------------------------------------ positive control


async def test_a_valid_token_passes(verifier: TokenVerifier, mint: TokenMint) -> None:
    """The control: without it every refusal below could pass by refusing everything."""
    token = mint.token(TENANT, ("customers:read",))
    claims = await verifier.verify(token)
    assert claims == TokenClaims(
        tenant=TENANT,
        client_id="test-client",
        scopes=frozenset({"customers:read"}),
        jti=mint.claims_of(token)["jti"],
        expires_at=mint.claims_of(token)["exp"],
    )
    assert await verifier.verify(token) == claims  # and again (a second look changes nothing)


# ------------------------------------------------------------------------ algorithm attacks


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none_is_refused(verifier: TokenVerifier, mint: TokenMint, alg: str) -> None:
    header = _segment({"alg": alg, "typ": "JWT", "kid": mint.kid})
    unsigned = f"{header}.{_segment(mint.claims(TENANT))}."
    await _refused(verifier, unsigned)
    # …also with the valid signature of another token left in place.
    signature = mint.token(TENANT).rsplit(".", 1)[1]
    await _refused(verifier, unsigned + signature)


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
async def test_hs256_signed_with_the_public_key_is_refused(
    verifier: TokenVerifier, mint: TokenMint, encoding: serialization.Encoding
) -> None:
    """Algorithm confusion: the public key (which anyone can fetch) used as an HMAC secret."""
    public = mint.private_key.public_key().public_bytes(
        encoding, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': mint.kid})}." + _segment(
        mint.claims(TENANT)
    )
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    detail = await _refused(verifier, f"{signing_input}.{_b64(signature)}")
    assert "RS256" in detail


async def test_a_forged_signature_under_the_published_kid_is_refused(
    verifier: TokenVerifier, mint: TokenMint
) -> None:
    """Signed with the attacker's own key, that key embedded as `jwk`/`jku`: never trusted."""
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    embedded = RSAAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
    token = jwt.encode(
        mint.claims(TENANT),
        attacker,
        algorithm="RS256",
        headers={"kid": mint.kid, "jwk": embedded, "jku": "http://127.0.0.1:9/evil"},
    )
    await _refused(verifier, token)


# ------------------------------------------------------------------------ time attacks


async def test_an_expired_token_is_refused(verifier: TokenVerifier, mint: TokenMint) -> None:
    now = int(time.time())
    token = mint.token(TENANT, iat=now - 3600, exp=now - LEEWAY - 60)
    assert "expired" in await _refused(verifier, token)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_a_token_not_yet_valid_is_refused(
    verifier: TokenVerifier, mint: TokenMint, claim: str
) -> None:
    """`nbf` or `iat` further in the future than the leeway allows."""
    future = int(time.time()) + LEEWAY + 120
    token = mint.token(TENANT, **{claim: future, "exp": future + 600})
    assert "not valid yet" in await _refused(verifier, token)


async def test_a_cached_token_is_still_refused_once_it_expires(
    verifier: TokenVerifier, mint: TokenMint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However verification is sped up, `exp` is checked against the clock on every call."""
    token = mint.token(TENANT)
    await verifier.verify(token)
    later = time.time() + 300 + LEEWAY + 1  # past the mint's exp (now + 300) and the leeway
    # Only the verifier's own clock moves: the event loop keeps the real one.
    clock = types.SimpleNamespace(time=lambda: later, monotonic=time.monotonic)
    monkeypatch.setattr(tokens_module, "time", clock)
    assert "expired" in await _refused(verifier, token)


# ------------------------------------------------------------------------ claim attacks


@pytest.mark.parametrize(
    "issuer",
    ["other-tenant", "https://evil.example/auth/realms/acme", "missing"],
)
async def test_a_wrong_issuer_is_refused(
    verifier: TokenVerifier, mint: TokenMint, issuer: str
) -> None:
    claims = mint.claims(TENANT)
    if issuer == "other-tenant":
        claims["iss"] = mint.settings.issuer_for(OTHER_TENANT)
    elif issuer == "missing":
        del claims["iss"]
    else:
        claims["iss"] = issuer
    await _refused(verifier, _signed(mint, claims))


@pytest.mark.parametrize("audience", ["another-suite", ["another-suite"], None])
async def test_a_wrong_audience_is_refused(
    verifier: TokenVerifier, mint: TokenMint, audience: Any
) -> None:
    claims = mint.claims(TENANT)
    if audience is None:
        del claims["aud"]
    else:
        claims["aud"] = audience
    await _refused(verifier, _signed(mint, claims))


@pytest.mark.parametrize("tenant", ["missing", "", 42, None])
async def test_a_token_without_a_tenant_is_refused(
    verifier: TokenVerifier, mint: TokenMint, tenant: Any
) -> None:
    claims = mint.claims(TENANT)
    if tenant == "missing":
        del claims["tenant"]
    else:
        claims["tenant"] = tenant
    await _refused(verifier, _signed(mint, claims))


@pytest.mark.parametrize("claim", ["sub", "jti", "exp", "iat"])
async def test_a_token_without_a_required_claim_is_refused(
    verifier: TokenVerifier, mint: TokenMint, claim: str
) -> None:
    claims = mint.claims(TENANT)
    del claims[claim]
    await _refused(verifier, _signed(mint, claims))


@pytest.mark.parametrize(
    "change",
    [{"tenant": OTHER_TENANT}, {"scope": "customers:read customers:write"}, {"exp": 4102444800}],
)
async def test_a_tampered_payload_is_refused(
    verifier: TokenVerifier, mint: TokenMint, change: dict[str, Any]
) -> None:
    """The signature of a genuine token, kept, over a payload the attacker rewrote."""
    genuine = mint.token(TENANT, ("customers:read",))
    await verifier.verify(genuine)  # genuine, and now seen once (so possibly cached)
    header, _, signature = genuine.split(".")
    claims = {**mint.claims_of(genuine), **change}
    if "tenant" in change:
        claims["iss"] = mint.settings.issuer_for(change["tenant"])
    await _refused(verifier, f"{header}.{_segment(claims)}.{signature}")
    # A flipped bit in the signature, payload untouched.
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    await _refused(verifier, f"{header}.{genuine.split('.')[1]}.{flipped}")


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9.e30.", "\u00e9.\u00e9.x"]
)
async def test_garbage_is_refused(verifier: TokenVerifier, token: str) -> None:
    await _refused(verifier, token)


# ------------------------------------------------------------------------ key id attacks


async def test_a_token_without_a_kid_is_refused(
    verifier: TokenVerifier, mint: TokenMint, jwks: Jwks
) -> None:
    token = _signed(mint, mint.claims(TENANT), headers={"typ": "JWT"})
    assert "key id" in await _refused(verifier, token)
    assert jwks.fetches == 0  # nothing to look up


async def test_unknown_kids_refetch_the_jwks_at_most_once_per_interval(
    mint: TokenMint, jwks: Jwks, revocations: RevocationList
) -> None:
    """A flood of tokens with made-up kids costs one JWKS fetch per interval, not one each."""
    verifier = _verifier(mint, revocations, min_refresh_seconds=3600)
    try:
        forged = [
            _signed(mint, mint.claims(TENANT), headers={"kid": uuid.uuid4().hex}) for _ in range(20)
        ]
        outcomes = await asyncio.gather(
            *(verifier.verify(token) for token in forged), return_exceptions=True
        )
        assert all(isinstance(outcome, InvalidToken) for outcome in outcomes)
        assert jwks.fetches == 1
        for token in forged:
            assert "unknown key" in await _refused(verifier, token)
        assert jwks.fetches == 1
        await verifier.verify(mint.token(TENANT))  # the known key came with that one fetch
        assert jwks.fetches == 1
    finally:
        await verifier.close()


async def test_an_unknown_kid_refetches_once_the_interval_has_passed(
    mint: TokenMint, jwks: Jwks, revocations: RevocationList
) -> None:
    """With no interval, each unknown kid refetches exactly once, so a key rotated in is found
    (the count above is a rate limit, not a refusal to refetch)."""
    verifier = _verifier(mint, revocations, min_refresh_seconds=0.0)
    try:
        await verifier.verify(mint.token(TENANT))
        assert jwks.fetches == 1
        await _refused(verifier, _signed(mint, mint.claims(TENANT), headers={"kid": "nope"}))
        assert jwks.fetches == 2
        rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(rotated.public_key(), as_dict=True)
        jwks.extra_keys.append({**jwk, "kid": "rotated", "alg": "RS256", "use": "sig"})
        token = jwt.encode(
            mint.claims(TENANT), rotated, algorithm="RS256", headers={"kid": "rotated"}
        )
        assert (await verifier.verify(token)).tenant == TENANT
        assert jwks.fetches == 3
        await verifier.verify(mint.token(TENANT))  # known kids never fetch
        assert jwks.fetches == 3
    finally:
        await verifier.close()


async def test_a_key_dropped_from_the_jwks_no_longer_verifies(
    mint: TokenMint, jwks: Jwks, revocations: RevocationList
) -> None:
    """A key the issuer withdrew is not trusted on, not even for tokens already seen."""
    verifier = _verifier(mint, revocations, min_refresh_seconds=0.0)
    try:
        old_token = mint.token(TENANT)
        await verifier.verify(old_token)
        jwks.publishes_mint_key = False
        await verifier.refresh()
        assert "unknown key" in await _refused(verifier, old_token)
    finally:
        await verifier.close()


async def test_the_scheduled_refresh_drops_a_withdrawn_key_and_what_it_verified(
    mint: TokenMint, jwks: Jwks, revocations: RevocationList
) -> None:
    """No unknown kid needed: the background refresh notices the key is gone, and forgets the
    verified tokens it vouched for; `request_refresh` does the same at once."""
    verifier = _verifier(mint, revocations, refresh_seconds=0.05)
    task = asyncio.create_task(verifier.run())
    try:
        token = mint.token(TENANT)
        await verifier.verify(token)
        fetched = jwks.fetches
        await eventually(lambda: _true(jwks.fetches > fetched), timeout=5)  # it runs by itself
        jwks.publishes_mint_key = False

        async def dropped() -> bool:
            return not verifier._verified  # the cache entry went with its key

        await eventually(dropped, timeout=5)
        assert "unknown key" in await _refused(verifier, token)
    finally:
        await cancel_and_wait(task)
        await verifier.close()


@pytest.mark.parametrize("garbage", [[], {"keys": "nope"}, "text"])
async def test_a_malformed_jwks_keeps_the_keys_we_have(
    mint: TokenMint, jwks: Jwks, revocations: RevocationList, garbage: Any
) -> None:
    """Only a well-formed JWKS replaces the keys: garbage is a failed fetch (503), not a JWKS
    without keys, and the scheduled refresh carries on after it."""
    verifier = _verifier(mint, revocations, refresh_seconds=0.05)
    task = asyncio.create_task(verifier.run())
    try:
        token = mint.token(TENANT)
        await verifier.verify(token)
        jwks.garbage = garbage
        with pytest.raises(Unavailable):
            await verifier.refresh()
        fetched = jwks.fetches
        await eventually(lambda: _true(jwks.fetches > fetched + 1), timeout=5)
        assert (await verifier.verify(mint.token(TENANT))).tenant == TENANT
        assert not task.done()
    finally:
        await cancel_and_wait(task)
        await verifier.close()


async def test_request_refresh_refetches_at_once(
    mint: TokenMint, jwks: Jwks, revocations: RevocationList
) -> None:
    verifier = _verifier(mint, revocations, refresh_seconds=3600)
    task = asyncio.create_task(verifier.run())
    try:
        await verifier.verify(mint.token(TENANT))
        fetched = jwks.fetches
        verifier.request_refresh()
        await eventually(lambda: _true(jwks.fetches == fetched + 1), timeout=5)
    finally:
        await cancel_and_wait(task)
        await verifier.close()


async def test_a_token_living_longer_than_the_configured_lifetime_is_refused(
    mint: TokenMint, revocations: RevocationList
) -> None:
    """exp - iat beyond the lifetime auth_service issues (plus leeway) is refused."""
    verifier = _verifier(mint, revocations, max_lifetime_seconds=900)
    try:
        now = int(time.time())
        fine = _signed(mint, {**mint.claims(TENANT), "iat": now, "exp": now + 900 + LEEWAY})
        assert (await verifier.verify(fine)).tenant == TENANT
        long_lived = {**mint.claims(TENANT), "iat": now, "exp": now + 900 + LEEWAY + 1}
        assert "longer" in await _refused(verifier, _signed(mint, long_lived))
    finally:
        await verifier.close()


async def _true(value: bool) -> bool:
    return value


# ------------------------------------------------------------------------ revocation


async def test_a_revoked_token_is_refused(
    verifier: TokenVerifier, mint: TokenMint, revocations: RevocationList
) -> None:
    token = mint.token(TENANT)
    await verifier.verify(token)  # valid (and seen) before its revocation
    claims = mint.claims_of(token)
    revocations.add_token(claims["jti"], claims["exp"] + LEEWAY)
    assert "revoked" in await _refused(verifier, token)
    await verifier.verify(mint.token(TENANT))  # another token of the same client still passes


async def test_the_tokens_of_a_revoked_client_are_refused(
    verifier: TokenVerifier, mint: TokenMint, revocations: RevocationList
) -> None:
    """A deleted/revoked client: every token issued to it up to the revocation is void."""
    token = mint.token(TENANT)
    other_client = mint.token(TENANT, sub="another-client")
    await verifier.verify(token)
    now = time.time()
    revocations.add_client(TENANT, "test-client", revoked_at=now, until=now + 3600)
    assert "revoked" in await _refused(verifier, token)
    assert "revoked" in await _refused(verifier, mint.token(TENANT))  # issued this very second
    assert (await verifier.verify(other_client)).client_id == "another-client"
    # The same client id in another tenant is another client.
    assert (await verifier.verify(mint.token(OTHER_TENANT))).tenant == OTHER_TENANT


# ------------------------------------------------------------------------ the authorize path


@pytest.fixture
async def guarded(aiohttp_client, verifier: TokenVerifier):
    """An app behind the shared auth middleware, as every service uses it."""

    async def handler(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(
        middlewares=[*base_middlewares(), auth_middleware(verifier, is_public=lambda _: False)]
    )
    app.router.add_get("/api/v2/customers", handler)
    return await aiohttp_client(app)


async def test_a_token_of_another_tenant_is_refused_for_this_tenant(
    guarded, mint: TokenMint
) -> None:
    """A valid token of tenant A with `X-TWC-Tenant: B` is 403; the same with A is 200."""
    token = mint.token(OTHER_TENANT)
    for tenant_header in ({"X-TWC-Tenant": TENANT}, {"X-TWC-Tenant": TENANT.upper()}, {}):
        response = await guarded.get(
            "/api/v2/customers", headers={"Authorization": f"Bearer {token}", **tenant_header}
        )
        assert response.status == 403, tenant_header
        assert response.content_type == "application/problem+json"
    control = await guarded.get(
        "/api/v2/customers",
        headers={"Authorization": f"Bearer {token}", "X-TWC-Tenant": OTHER_TENANT},
    )
    assert control.status == 200


async def test_an_invalid_token_is_401_invalid_token_on_the_authorize_path(
    guarded, mint: TokenMint
) -> None:
    expired = mint.token(TENANT, exp=int(time.time()) - LEEWAY - 60)
    response = await guarded.get(
        "/api/v2/customers",
        headers={"Authorization": f"Bearer {expired}", "X-TWC-Tenant": TENANT},
    )
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    missing = await guarded.get("/api/v2/customers", headers={"X-TWC-Tenant": TENANT})
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer realm=")


async def test_the_verified_token_cache_is_bounded(
    mint: TokenMint, revocations: RevocationList
) -> None:
    """Many distinct valid tokens (say, a client minting one per request) cannot grow memory."""
    verifier = _verifier(mint, revocations, cache_size=3)
    try:
        tokens = [mint.token(TENANT) for _ in range(10)]
        for token in tokens:
            await verifier.verify(token)
        assert len(verifier._verified) == 3  # the bound itself is internal state
        for token in tokens:  # the forgotten ones verify in full again, same answer
            assert (await verifier.verify(token)).tenant == TENANT
    finally:
        await verifier.close()
