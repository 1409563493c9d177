"""Failed client authentications, counted in Redis, so guessing is slow and nobody else's
failures lock a client with the right secret out.

Three fixed-window counters per tenant (the first failure starts a counter that expires
`window_seconds` later), keyed on the client's real address (the gateway passes it on, see
shared.web.client_address):

- per (client, address), tight: checked *before* the secret, so one address guessing one
  client's secret is stopped cold (even the right secret from there waits out the window);
- per address, looser: one address spraying many client ids;
- per client, from every address: counted only *after* the secret was checked and found wrong.
  Past it wrong secrets get 429 `slow_down` instead of 401, but a correct secret always passes:
  failures from other addresses never lock the real client out. (Guessing across many addresses
  stays hopeless: secrets are 256-bit random, and each address still meets the first two.)

Check-and-record is one Lua script: an attempt takes its place in the pre-check counters
atomically before the secret is checked, and gives it back if the secret was right, so
concurrent attempts cannot slip past a limit between a read and a write. Redis down: the limits
are skipped (logged, and Redis left alone for a few seconds), token issue goes on.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from auth_service.errors import SlowDown
from shared.log import fingerprint

log = structlog.get_logger("brute_force")

_REDIS_ERRORS = (RedisError, OSError, TimeoutError)
_REDIS_BACKOFF_SECONDS = 5.0

# KEYS: counters checked before the secret; ARGV: their limits, then the window. Returns 0 and
# counts the attempt in each, or, if one is at its limit, counts nothing and returns its TTL.
_ACQUIRE = """
local window = tonumber(ARGV[#KEYS + 1])
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then
    local ttl = redis.call('TTL', key)
    if ttl > 0 then return ttl end
    return window
  end
end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, window) end
end
return 0
"""
# Gives back the attempt of a correct secret.
_RELEASE = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""
# KEYS[1]: the per-client counter; ARGV[1]: the window. Returns {count, ttl}.
_COUNT_FAILURE = """
local count = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('TTL', KEYS[1])}
"""


@dataclass(frozen=True, slots=True)
class FailureLimits:
    per_client_address: int = 10
    per_address: int = 100
    per_client: int = 100
    window_seconds: int = 60


def _client_part(client_id: str) -> str:
    # A client_id field may hold a pasted secret: keep it out of Redis key names, too.
    return hashlib.sha256(client_id.encode()).hexdigest()[:32]


# `{tenant}` is a Redis Cluster hash tag: one tenant's counters share a slot, as a script needs.
def client_address_key(tenant: str, client_id: str, address: str) -> str:
    return f"auth-failures:{{{tenant}}}:pair:{_client_part(client_id)}:{address}"


def address_key(tenant: str, address: str) -> str:
    return f"auth-failures:{{{tenant}}}:address:{address}"


def client_key(tenant: str, client_id: str) -> str:
    return f"auth-failures:{{{tenant}}}:client:{_client_part(client_id)}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One authentication attempt holding its place in the pre-check counters."""

    tenant: str
    client_id: str
    keys: tuple[str, ...]


class FailureLimiter:
    def __init__(self, redis: Redis, limits: FailureLimits | None = None) -> None:
        self._redis = redis
        self.limits = limits or FailureLimits()
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._count_failure = redis.register_script(_COUNT_FAILURE)
        self._skip_until = float("-inf")

    async def begin(self, *, address: str, tenant: str, client_id: str) -> Attempt:
        """Count an attempt from `address` for `client_id`, or SlowDown if this pair or this
        address is at its limit (before any secret is checked)."""
        keys = (client_address_key(tenant, client_id, address), address_key(tenant, address))
        attempt = Attempt(tenant, client_id, keys)
        if self._redis_down():
            return attempt
        limits = self.limits
        try:
            retry_after = await self._acquire(
                keys=list(keys),
                args=[limits.per_client_address, limits.per_address, limits.window_seconds],
            )
        except _REDIS_ERRORS as exc:
            self._redis_failed(exc)
            return attempt
        if retry_after:
            log.warning(
                "client authentication throttled", by="address", client=fingerprint(client_id)
            )
            raise SlowDown(retry_after=int(retry_after))
        return attempt

    async def release(self, attempt: Attempt) -> None:
        """The secret was right (or never judged): the attempt counts as no failure."""
        if self._redis_down():
            return
        try:
            await self._release(keys=list(attempt.keys))
        except _REDIS_ERRORS as exc:
            self._redis_failed(exc)

    async def failed(self, attempt: Attempt) -> None:
        """The secret was wrong (or the client unknown): it stays counted against the pair and
        the address, and counts against the client; SlowDown once the client is over its limit."""
        if self._redis_down():
            return
        try:
            count, ttl = await self._count_failure(
                keys=[client_key(attempt.tenant, attempt.client_id)],
                args=[self.limits.window_seconds],
            )
        except _REDIS_ERRORS as exc:
            self._redis_failed(exc)
            return
        if int(count) > self.limits.per_client:
            log.warning(
                "client authentication throttled",
                by="client",
                client=fingerprint(attempt.client_id),
            )
            ttl = int(ttl)
            raise SlowDown(retry_after=ttl if ttl > 0 else self.limits.window_seconds)

    def _redis_down(self) -> bool:
        return time.monotonic() < self._skip_until

    def _redis_failed(self, exc: BaseException) -> None:
        # A Redis that hangs would add its timeout to every token request: after a failure,
        # leave it alone for a few seconds.
        self._skip_until = time.monotonic() + _REDIS_BACKOFF_SECONDS
        log.error("brute-force limit skipped: redis unavailable", error=type(exc).__name__)
