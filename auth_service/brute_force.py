"""Failed client authentications, counted in Redis per remote address and per client.

A fixed window: the first failure starts a counter that expires `window_seconds` later; once a
counter reaches its limit, that address or client gets 429 (`slow_down`, with `Retry-After`) until
the window passes. The per-address limit is tight and the per-client limit loose, so an attacker
hammering a client id from one address locks out that address long before the client: the
legitimate client, elsewhere, keeps working. A success resets nothing. Redis down: the limit is
skipped (logged, and Redis left alone for a few seconds), token issue goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from auth_service.errors import SlowDown

log = structlog.get_logger("brute_force")

_REDIS_ERRORS = (RedisError, OSError, TimeoutError)
_REDIS_BACKOFF_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class FailureLimits:
    per_address: int = 10
    per_client: int = 100
    window_seconds: int = 60


def address_key(address: str) -> str:
    return f"auth-failures:address:{address}"


def client_key(tenant: str, client_id: str) -> str:
    return f"auth-failures:client:{tenant}:{client_id}"


class FailureLimiter:
    def __init__(self, redis: Redis, limits: FailureLimits | None = None) -> None:
        self._redis = redis
        self.limits = limits or FailureLimits()
        self._skip_until = float("-inf")

    async def check(self, *, address: str, tenant: str, client_id: str) -> None:
        """SlowDown if this address or this client has failed too often in the current window."""
        keys = (
            (address_key(address), self.limits.per_address),
            (client_key(tenant, client_id), self.limits.per_client),
        )
        if self._redis_down():
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, _limit in keys:
                    pipe.get(key)
                    pipe.ttl(key)
                replies = await pipe.execute()
        except _REDIS_ERRORS as exc:
            self._redis_failed(exc)
            return
        for index, (_key, limit) in enumerate(keys):
            count, ttl = replies[2 * index], replies[2 * index + 1]
            if count is not None and int(count) >= limit:
                which = "address" if index == 0 else "client"
                log.warning("client authentication throttled", by=which, client_id=client_id)
                raise SlowDown(retry_after=ttl if ttl > 0 else self.limits.window_seconds)

    async def record_failure(self, *, address: str, tenant: str, client_id: str) -> None:
        """Count one failed authentication against the address and the client."""
        if self._redis_down():
            return
        window = self.limits.window_seconds
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in (address_key(address), client_key(tenant, client_id)):
                    pipe.incr(key)
                    pipe.expire(key, window, nx=True)
                await pipe.execute()
        except _REDIS_ERRORS as exc:
            self._redis_failed(exc)

    def _redis_down(self) -> bool:
        return time.monotonic() < self._skip_until

    def _redis_failed(self, exc: BaseException) -> None:
        # A Redis that hangs would add its timeout to every token request: after a failure,
        # leave it alone for a few seconds.
        self._skip_until = time.monotonic() + _REDIS_BACKOFF_SECONDS
        log.error("brute-force limit skipped: redis unavailable", error=type(exc).__name__)
