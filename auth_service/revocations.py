"""Revoked access tokens, kept in Redis until they would have expired anyway.

The key names and the channel are defined once in shared.revocations, whose RevocationList is
what the gateway and the services keep in sync from them.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from auth_service.errors import TemporarilyUnavailable
from shared.revocations import publish_token_revocation, revoked_token_key

_REDIS_ERRORS = (RedisError, OSError, TimeoutError)


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
            await publish_token_revocation(self._redis, jti, exp, keep_until=expires_at)
        except _REDIS_ERRORS as exc:
            raise TemporarilyUnavailable("The revocation list is not available.") from exc

    async def is_revoked(self, jti: str) -> bool:
        try:
            return bool(await self._redis.exists(revoked_token_key(jti)))
        except _REDIS_ERRORS as exc:
            raise TemporarilyUnavailable("The revocation list is not available.") from exc
