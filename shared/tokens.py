"""Access-token verification, written once for the gateway and every service (zero trust).

RS256 only; `kid` required and published: the JWKS is refetched on a schedule (every
`refresh_seconds`, jittered, so replicas do not stampede), on demand (`request_refresh`: an
operator changed the keys), and at most once per interval on an unknown kid; a key no longer
published is dropped with every token it verified, so a retired or revoked key stops working
within one refresh. `exp`, `iat`, `iss`, `aud` checked with a small leeway; `exp - iat` must not
exceed the configured token lifetime (a leaked key cannot mint long-lived tokens); `tenant` claim
required. A token that passed is remembered (bounded LRU, keyed by the raw token), so the next
sight of it costs a dict lookup; `exp` and the revocation list are still checked on every call.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import orjson
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.errors import Unauthorized, Unavailable
from shared.revocations import RevocationList

log = structlog.get_logger("tokens")

ALGORITHM = "RS256"
REALM = "customer-suite"
# Tokens remembered as verified, least recently used dropped first: a few thousand cover every
# live client of a busy instance, at about 1 KiB each.
VERIFIED_CACHE_SIZE = 4096
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
# Unpadded as RFC 7515 has it; trailing "=" tolerated, as pyjwt tolerates it.
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What the suite trusts after verification."""

    tenant: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token whose signature and claims passed, and the key that verified it."""

    claims: TokenClaims
    issued_at: float
    kid: str
    key: object


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
        refresh_seconds: float = 60.0,
        max_lifetime_seconds: float | None = None,
        revocations: RevocationList | None = None,
        cache_size: int = VERIFIED_CACHE_SIZE,
    ) -> None:
        self._jwks_url = jwks_url
        self._audience = audience
        self._issuer_for = issuer_for
        self._leeway = leeway_seconds
        self._min_refresh = min_refresh_seconds
        self._refresh_seconds = refresh_seconds
        # Longer-lived tokens than auth_service issues are refused (None: no limit).
        self._max_lifetime = max_lifetime_seconds
        self._refresh_requested = asyncio.Event()
        self._revocations = revocations
        self._keys: dict[str, object] = {}
        self._last_fetch = float("-inf")
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        # Raw token → what verifying it established. Clients send the same token for its whole
        # life, and the signature check is most of a verification's cost.
        self._verified: OrderedDict[str, _Verified] = OrderedDict()
        self._cache_size = cache_size

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def verify(self, token: str) -> TokenClaims:
        """The token's claims, or InvalidToken. Network only on an unknown kid (rate-limited)."""
        verified = self._verified.get(token)
        # Trusted only while the key that verified it is still the published one.
        if verified is not None and self._keys.get(verified.kid) is verified.key:
            self._verified.move_to_end(token)
            # The one check that can flip from pass to fail as time goes on (nbf/iat only
            # flip the other way, and a token that failed them was never remembered).
            if verified.claims.expires_at <= time.time() - self._leeway:
                del self._verified[token]
                raise InvalidToken("The access token has expired.")
        else:
            verified = await self._verify_in_full(token)
            self._remember(token, verified)
        claims = verified.claims
        # Never cached: a revocation must take effect on the very next request.
        if self._revocations is not None and self._revocations.is_revoked(
            jti=claims.jti,
            tenant=claims.tenant,
            client_id=claims.client_id,
            issued_at=verified.issued_at,
        ):
            raise InvalidToken("The access token has been revoked.")
        return claims

    async def _verify_in_full(self, token: str) -> _Verified:
        """Signature and claims: the header parsed once to find the key, then one verified
        decode (which parses the token once more, strictly, and checks the signature first)."""
        kid = signing_kid(token)
        key = self._keys.get(kid) or await self._refresh_for(kid)
        if key is None:
            raise InvalidToken("The access token was signed by an unknown key.")
        claims, issued_at = decode_claims(
            token,
            key,
            audience=self._audience,
            issuer_for=self._issuer_for,
            leeway=self._leeway,
            max_lifetime=self._max_lifetime,
        )
        tenant = claims["tenant"]
        return _Verified(
            claims=TokenClaims(
                tenant=tenant,
                client_id=str(claims["sub"]),
                scopes=frozenset(str(claims.get("scope", "")).split()),
                jti=str(claims["jti"]),
                expires_at=int(claims["exp"]),
            ),
            issued_at=issued_at,
            kid=kid,
            key=key,
        )

    def _remember(self, token: str, verified: _Verified) -> None:
        self._verified[token] = verified
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)  # the least recently used

    async def _refresh_for(self, kid: str) -> object | None:
        async with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            if time.monotonic() - self._last_fetch < self._min_refresh:
                return None
            await self.refresh()
            return self._keys.get(kid)

    def request_refresh(self) -> None:
        """Refetch the JWKS now (in the background): the published keys have changed."""
        self._refresh_requested.set()

    async def run(self) -> None:
        """Background: refetch the JWKS every `refresh_seconds` (±20% jitter) or when asked.
        A failed fetch keeps the keys we have (logged) and is retried at the next turn."""
        while True:
            delay = self._refresh_seconds * random.uniform(0.8, 1.2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refresh_requested.wait(), timeout=delay)
            self._refresh_requested.clear()
            try:
                async with self._lock:
                    await self.refresh()
            except Unavailable:
                pass  # logged by refresh
            except Exception as exc:  # a malformed document must not end the schedule
                log.warning("jwks refresh failed", error=type(exc).__name__)

    async def refresh(self) -> None:
        """Fetch the JWKS now and keep exactly the keys it publishes. auth_service down → 503
        (the keys we have are kept)."""
        self._last_fetch = time.monotonic()
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3))
        try:
            async with self._session.get(self._jwks_url) as response:
                response.raise_for_status()
                document = await response.json()
            if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
                raise aiohttp.ContentTypeError(response.request_info, (), message="not a JWKS")
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("jwks fetch failed", error=type(exc).__name__)
            raise Unavailable("The token keys cannot be fetched right now.") from exc
        keys: dict[str, object] = {}
        for jwk in document["keys"]:
            if (
                isinstance(jwk, dict)
                and jwk.get("kty") == "RSA"
                and jwk.get("kid")
                and jwk.get("alg", ALGORITHM) == ALGORITHM
            ):
                try:
                    key = RSAAlgorithm.from_jwk(jwk)
                except (jwt.InvalidKeyError, ValueError, KeyError, TypeError):
                    log.warning("jwks key unusable, skipped", kid=str(jwk["kid"]))
                    continue
                keys[jwk["kid"]] = _same_or(self._keys.get(jwk["kid"]), key)
        dropped = set(self._keys) - set(keys)
        self._keys = keys
        if dropped:
            # Tokens those keys verified are forgotten too (the cache would refuse them anyway,
            # as their key is gone; this frees them).
            self._verified = OrderedDict(
                (token, verified)
                for token, verified in self._verified.items()
                if keys.get(verified.kid) is verified.key
            )
            log.info("token keys no longer published, dropped", kids=sorted(dropped))


def _same_or(previous: object | None, key: object) -> object:
    """`previous` when it is the same public key: tokens it verified stay remembered."""
    same = (
        isinstance(previous, rsa.RSAPublicKey)
        and isinstance(key, rsa.RSAPublicKey)
        and previous.public_numbers() == key.public_numbers()
    )
    return previous if same else key


def signing_kid(token: str) -> str:
    """The `kid` of an RS256 token's header (read unverified, only to pick the key)."""
    header = _unverified_header(token)
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("The access token is not signed with RS256.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("The access token has no key id.")
    return kid


def decode_claims(
    token: str,
    key: object,
    *,
    audience: str,
    issuer_for: Callable[[str], str],
    leeway: float,
    max_lifetime: float | None,
) -> tuple[dict[str, Any], float]:
    """The claims of a token signed by `key`, with every check the suite makes of a token (the
    verifiers' and auth_service's own), and its `iat`; `InvalidToken` says which failed."""
    try:
        claims = jwt.decode_complete(
            token,
            key=key,
            algorithms=[ALGORITHM],
            audience=audience,
            leeway=leeway,
            # The issuer depends on the tenant claim, checked below once it is verified.
            options={"verify_iss": False, "require": _REQUIRED_CLAIMS},
        )["payload"]
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The access token has expired.") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("The access token is not valid yet.") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("The access token is not meant for this API.") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"The access token lacks the {exc.claim} claim.") from None
    except jwt.PyJWTError:  # the library's own words name its internals: say it plainly
        raise InvalidToken("The access token is invalid.") from None
    tenant = claims.get("tenant")
    if not isinstance(tenant, str) or not tenant:
        raise InvalidToken("The access token has no tenant.")
    if claims["iss"] != issuer_for(tenant):
        raise InvalidToken("The access token was not issued for its tenant.")
    # Older pyjwt releases check only that `iat` is a number, not that it is in the past.
    try:
        issued_at = float(claims["iat"])
    except (TypeError, ValueError, OverflowError):
        raise InvalidToken("The access token is invalid (InvalidIssuedAtError).") from None
    if issued_at > time.time() + leeway:
        raise InvalidToken("The access token is not valid yet.")
    # Longer than the suite issues means minted elsewhere (a leaked key).
    if max_lifetime is not None and claims["exp"] - issued_at > max_lifetime + leeway:
        raise InvalidToken("The access token lives longer than this suite issues tokens for.")
    return claims, issued_at


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, only to pick the key: pyjwt's own parse validates every segment byte by
    byte in Python, and the verified decode does that once anyway."""
    segment, dot, _ = token.partition(".")
    if not dot or not _BASE64URL.fullmatch(segment):
        raise InvalidToken("The access token is malformed.")
    segment = segment.rstrip("=")
    try:
        header = orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidToken("The access token is malformed.") from None
    if not isinstance(header, dict):
        raise InvalidToken("The access token is malformed.")
    return header


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header, or MissingToken."""
    if not authorization:
        raise MissingToken()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken()
    return token.strip()
