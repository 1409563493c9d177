"""Revoked access tokens, kept in Redis until they would have expired anyway.

The names are a contract with the gateway and the services, which keep a local denylist in sync
from the channel and from a SCAN of the keys at start.
"""

from __future__ import annotations

import time

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from auth_service.errors import TemporarilyUnavailable

REVOKED_TOKEN_PREFIX = "revoked-token:"
REVOCATIONS_CHANNEL = "token-revocations"

_REDIS_ERRORS = (RedisError, OSError, TimeoutError)


def revoked_token_key(jti: str) -> str:
    return f"{REVOKED_TOKEN_PREFIX}{jti}"


class RevocationStore:
    def __init__(self, redis: Redis, *, leeway_seconds: int) -> None:
        self._redis = redis
        # Verifiers accept a token until exp + leeway: the mark must outlive that.
        self._leeway = leeway_seconds

    async def revoke(self, jti: str, exp: int) -> None:
        """Mark `jti` revoked until the token is dead everywhere, and tell every listener now."""
        expires_at = exp + self._leeway
        if expires_at <= time.time():
            return
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(revoked_token_key(jti), "1", exat=expires_at)
                pipe.publish(REVOCATIONS_CHANNEL, orjson.dumps({"jti": jti, "exp": exp}))
                await pipe.execute()
        except _REDIS_ERRORS as exc:
            raise TemporarilyUnavailable("The revocation list is not available.") from exc

    async def is_revoked(self, jti: str) -> bool:
        try:
            return bool(await self._redis.exists(revoked_token_key(jti)))
        except _REDIS_ERRORS as exc:
            raise TemporarilyUnavailable("The revocation list is not available.") from exc
