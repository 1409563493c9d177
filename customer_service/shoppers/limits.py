"""Per-username counters in Redis: failed logins, and how often a one-time code is sent.

Redis rather than PostgreSQL: a failure must count even when the login's transaction is rolled
back, every replica must see the same count at once, and the counters expire by themselves.
Keys carry a digest of the username, never the username (no personal data in Redis), and the
tenant as a hash tag (a Redis Cluster keeps a tenant's keys together).

Fails closed: when Redis does not answer, a login or a send is refused with 503 — a login that
cannot be counted is not attempted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import TooManyRequests, Unavailable

_REDIS_ERRORS = (RedisError, OSError, TimeoutError)

# KEYS[1]: the "sent lately" marker; KEYS[2]: sends in the current hour.
# ARGV: gap seconds, window seconds, sends per window. Returns 0 (allowed, counted) or the seconds
# to wait. A refused request counts nothing, so retrying early does not use up the hour.
_OTP_SEND_SCRIPT = """
local wait = redis.call('TTL', KEYS[1])
if wait > 0 then return wait end
local sent = tonumber(redis.call('GET', KEYS[2]) or '0')
if sent >= tonumber(ARGV[3]) then
  local left = redis.call('TTL', KEYS[2])
  if left < 1 then left = 1 end
  return left
end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
redis.call('INCR', KEYS[2])
if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class ShopperLimitSettings:
    max_failures: int = 5
    failure_window_seconds: int = 15 * 60
    otp_gap_seconds: int = 30
    otp_sends_per_hour: int = 10


def _key(tenant: str, kind: str, username: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"shopper:{{{tenant}}}:{kind}:{digest}"


def _too_many(retry_after: int, detail: str) -> TooManyRequests:
    return TooManyRequests(detail, headers={"Retry-After": str(max(1, retry_after))})


def _unavailable(exc: BaseException) -> Unavailable:
    return Unavailable("Shopper logins are unavailable right now; retry later.")


class ShopperLimits:
    def __init__(self, redis: Redis, limits: ShopperLimitSettings | None = None) -> None:
        self._redis = redis
        self.limits = limits or ShopperLimitSettings()
        self._otp_send = redis.register_script(_OTP_SEND_SCRIPT)

    async def check_login(self, tenant: str, username: str) -> None:
        """429 once the username has failed `max_failures` times in the window (whatever the
        password now); 503 when Redis does not answer."""
        key = _key(tenant, "login-failures", username)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.ttl(key)
                count, ttl = await pipe.execute()
        except _REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc
        if count is not None and int(count) >= self.limits.max_failures:
            raise _too_many(
                ttl if ttl > 0 else self.limits.failure_window_seconds,
                "Too many failed logins for this username; retry later.",
            )

    async def record_failure(self, tenant: str, username: str) -> None:
        """Count one failed login; the window starts at the first failure."""
        key = _key(tenant, "login-failures", username)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, self.limits.failure_window_seconds, nx=True)
                await pipe.execute()
        except _REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc

    async def clear_failures(self, tenant: str, username: str) -> None:
        """A successful login forgets the earlier failures."""
        try:
            await self._redis.delete(_key(tenant, "login-failures", username))
        except _REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc

    async def count_otp_send(self, tenant: str, username: str) -> None:
        """Allow and count one code sent to the username, or 429 (one per gap, so many per
        hour); 503 when Redis does not answer."""
        keys = [_key(tenant, "otp-recent", username), _key(tenant, "otp-hour", username)]
        args = [self.limits.otp_gap_seconds, 3600, self.limits.otp_sends_per_hour]
        try:
            wait = int(await self._otp_send(keys=keys, args=args))
        except _REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc
        if wait > 0:
            raise _too_many(wait, "A code was sent to this username recently; retry later.")
