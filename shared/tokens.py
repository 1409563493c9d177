"""Access-token verification, written once for the gateway and every service (zero trust).

RS256 only; `kid` required and known (the JWKS is refetched at most once per interval on an
unknown kid); `exp`, `iat`, `iss`, `aud` checked with a small leeway; `tenant` claim required.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import jwt
import structlog
from jwt.algorithms import RSAAlgorithm

from shared.errors import Unauthorized, Unavailable
from shared.revocations import RevocationList

log = structlog.get_logger("tokens")

ALGORITHM = "RS256"
REALM = "customer-suite"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What the suite trusts after verification."""

    tenant: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    expires_at: int


class InvalidToken(Unauthorized):
    """A token that is malformed, expired, revoked or not ours: RFC 6750 `invalid_token`."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class MissingToken(Unauthorized):
    def __init__(self) -> None:
        super().__init__(
            "A bearer access token is required.",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
        )


class TokenVerifier:
    """Verifies access tokens against the JWKS published by auth_service, cached in memory."""

    def __init__(
        self,
        *,
        jwks_url: str,
        audience: str,
        issuer_for: Callable[[str], str],
        leeway_seconds: float = 30,
        min_refresh_seconds: float = 5.0,
        revocations: RevocationList | None = None,
    ) -> None:
        self._jwks_url = jwks_url
        self._audience = audience
        self._issuer_for = issuer_for
        self._leeway = leeway_seconds
        self._min_refresh = min_refresh_seconds
        self._revocations = revocations
        self._keys: dict[str, object] = {}
        self._last_fetch = float("-inf")
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def verify(self, token: str) -> TokenClaims:
        """The token's claims, or InvalidToken. Network only on an unknown kid (rate-limited)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("The access token is malformed.") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("The access token is not signed with RS256.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("The access token has no key id.")
        key = self._keys.get(kid) or await self._refresh_for(kid)
        if key is None:
            raise InvalidToken("The access token was signed by an unknown key.")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            tenant = unverified.get("tenant")
            if not isinstance(tenant, str) or not tenant:
                raise InvalidToken("The access token has no tenant.")
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer_for(tenant),
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "tenant"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("The access token has expired.") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("The access token is not valid yet.") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"The access token is invalid ({type(exc).__name__}).") from None
        if claims["iat"] > time.time() + self._leeway:
            raise InvalidToken("The access token is not valid yet.")
        if self._revocations is not None and self._revocations.is_revoked(
            jti=str(claims["jti"]),
            tenant=tenant,
            client_id=str(claims["sub"]),
            issued_at=float(claims["iat"]),
        ):
            raise InvalidToken("The access token has been revoked.")
        return TokenClaims(
            tenant=tenant,
            client_id=str(claims["sub"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            jti=str(claims["jti"]),
            expires_at=int(claims["exp"]),
        )

    async def _refresh_for(self, kid: str) -> object | None:
        async with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            if time.monotonic() - self._last_fetch < self._min_refresh:
                return None
            await self.refresh()
            return self._keys.get(kid)

    async def refresh(self) -> None:
        """Fetch the JWKS now. auth_service down and nothing cached for this kid → 503."""
        self._last_fetch = time.monotonic()
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3))
        try:
            async with self._session.get(self._jwks_url) as response:
                response.raise_for_status()
                document = await response.json()
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("jwks fetch failed", error=type(exc).__name__)
            raise Unavailable("The token keys cannot be fetched right now.") from exc
        keys: dict[str, object] = {}
        for jwk in document.get("keys", []):
            if (
                jwk.get("kty") == "RSA"
                and jwk.get("kid")
                and jwk.get("alg", ALGORITHM) == ALGORITHM
            ):
                keys[jwk["kid"]] = RSAAlgorithm.from_jwk(jwk)
        self._keys = keys


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header, or MissingToken."""
    if not authorization:
        raise MissingToken()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken()
    return token.strip()
