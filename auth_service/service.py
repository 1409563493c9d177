"""The OAuth use cases: authenticate a client, issue, revoke and introspect access tokens.

Nothing here knows HTTP; errors are `auth_service.errors.OAuthError`s the handlers render.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import jwt
import structlog

from auth_service import repository
from auth_service.brute_force import FailureLimiter
from auth_service.client_secrets import verify_secret_async
from auth_service.credentials import ClientCredentials
from auth_service.errors import InvalidClient, TemporarilyUnavailable, UnauthorizedClient
from auth_service.repository import Client
from auth_service.revocation_sync import RevocationStore
from auth_service.scopes import grant_scopes
from auth_service.signing import KeyRing
from shared import db, metrics
from shared.errors import Unavailable
from shared.identifiers import is_tenant_id
from shared.log import fingerprint
from shared.settings import Settings
from shared.tokens import ALGORITHM, InvalidToken, decode_claims, signing_kid

log = structlog.get_logger("auth")

TOKEN_TYPE = "Bearer"
INACTIVE: dict[str, Any] = {"active": False}


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scopes: tuple[str, ...]

    def __repr__(self) -> str:
        return f"IssuedToken(expires_in={self.expires_in}, scopes={self.scopes})"


class TokenService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        keyring: KeyRing,
        limiter: FailureLimiter,
        revocations: RevocationStore,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool = pool
        self._keyring = keyring
        self._limiter = limiter
        self._revocations = revocations
        self._settings = settings
        self._clock = clock

    async def _fetch_client(self, tenant: str, client_id: str) -> Client | None:
        try:
            async with db.connection(self._pool) as conn:
                return await repository.fetch_client(conn, tenant, client_id)
        except (Unavailable, *db.CONNECTION_ERRORS) as exc:
            raise TemporarilyUnavailable("The client registry is not available.") from exc

    async def authenticate(
        self, tenant: str, credentials: ClientCredentials, *, address: str
    ) -> Client:
        """The active client these credentials prove, or InvalidClient (SlowDown when throttled).

        Unknown tenant, unknown client, revoked client and wrong secret look the same, and take
        the same time (an unknown client is checked against a decoy hash)."""
        client_id = credentials.client_id
        attempt = await self._limiter.begin(address=address, tenant=tenant, client_id=client_id)
        try:
            client = await self._fetch_client(tenant, client_id) if is_tenant_id(tenant) else None
            matches = await verify_secret_async(
                credentials.secret, client.secret_hash if client is not None else None
            )
        except BaseException:  # the registry failed: no guess was judged, give the place back
            await self._limiter.release(attempt)
            raise
        if client is None or not matches or not client.active:
            # Never the field itself: a client_id field may hold a pasted secret.
            log.info("client authentication failed", tenant=tenant, client=fingerprint(client_id))
            await self._limiter.failed(attempt)
            raise InvalidClient()
        await self._limiter.release(attempt)
        return client

    async def issue(self, client: Client, requested_scope: str | None) -> IssuedToken:
        """A signed access token for `client`, with the requested subset of its scopes."""
        scopes = grant_scopes(client.scopes, requested_scope)
        try:
            kid, private_key = await self._keyring.signing_key()
        except Unavailable as exc:
            raise TemporarilyUnavailable("No signing key is available.") from exc
        now = int(self._clock())
        ttl = self._settings.token_ttl_seconds
        jti = str(uuid.uuid4())
        claims = {
            "iss": self._settings.issuer_for(client.tenant),
            "sub": client.client_id,
            "aud": self._settings.token_audience,
            "exp": now + ttl,
            "iat": now,
            "jti": jti,
            "tenant": client.tenant,
            "scope": " ".join(scopes),
            "azp": client.client_id,
            "typ": TOKEN_TYPE,
        }
        token = jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={"kid": kid})
        metrics.TOKENS_ISSUED.inc()
        log.info("token issued", tenant=client.tenant, client_id=client.client_id, jti=jti, kid=kid)
        return IssuedToken(token, ttl, scopes)

    async def _claims(self, tenant: str, token: str, *, leeway: float) -> dict[str, Any] | None:
        """The claims of a token this server issued for `tenant`, still unexpired; else None.
        The same checks as every verifier's (`shared.tokens.decode_claims`)."""
        try:
            kid = signing_kid(token)
            key = await self._keyring.verification_key(kid)
            if key is None:
                return None
            claims, _ = decode_claims(
                token,
                key,
                audience=self._settings.token_audience,
                issuer_for=self._settings.issuer_for,
                leeway=leeway,
                max_lifetime=self._settings.token_ttl_seconds,
            )
        except InvalidToken:
            return None
        return claims if claims["tenant"] == tenant else None

    async def revoke(self, client: Client, token: str) -> None:
        """RFC 7009: revoke a token issued to this client; a token that is not one of ours (or
        has expired) is silently ignored, one issued to another client is refused (§2.1).

        The token is accepted by verifiers until exp + leeway, so it is revocable until then."""
        claims = await self._claims(
            client.tenant, token, leeway=self._settings.token_leeway_seconds
        )
        if claims is None:
            return
        if claims.get("sub") != client.client_id:
            raise UnauthorizedClient("The token was not issued to this client.")
        await self._revocations.revoke(
            client.tenant, client.client_id, str(claims["jti"]), int(claims["exp"])
        )
        log.info(
            "token revoked", tenant=client.tenant, client_id=client.client_id, jti=claims["jti"]
        )

    async def introspect(self, client: Client, token: str) -> dict[str, Any]:
        """RFC 7662: the token's claims if it is active now, else `{"active": false}`.

        Active = issued by us for the caller's tenant, signature good, not expired (no leeway:
        this is the authoritative answer), not revoked, and its client not revoked since."""
        claims = await self._claims(client.tenant, token, leeway=0)
        if claims is None:
            return INACTIVE
        if await self._revocations.is_revoked(client.tenant, str(claims["jti"])):
            return INACTIVE
        subject = str(claims["sub"])
        owner = (
            client
            if subject == client.client_id
            else await self._fetch_client(client.tenant, subject)
        )
        if owner is None or not owner.active:
            return INACTIVE
        return {
            "active": True,
            "scope": claims.get("scope", ""),
            "client_id": claims.get("azp", subject),
            "sub": subject,
            "exp": claims["exp"],
            "iat": claims["iat"],
            "iss": claims["iss"],
            "aud": claims["aud"],
            "jti": claims["jti"],
            "tenant": claims["tenant"],
            "token_type": TOKEN_TYPE,
        }
