"""Per-tenant and per-client rate limits: token buckets in Redis, reserved in small blocks.

Limits default to the settings and can be set per tenant in the hash `ratelimit-config:{tenant}`
(fields rate, burst, client_rate, client_burst; see `python -m gateway rate-limit`). Keys carry
the tenant as a hash tag, so a Redis Cluster keeps one tenant's keys on one shard. While Redis is
down, requests pass unlimited and an error is logged (at most every few seconds).

Block reservation: a gateway process takes tokens from both buckets (tenant and client) in one
Redis round trip, a block at a time, and spends them locally, one per request, until the block
is used up or `LEASE_SECONDS` old. A client sending steadily gets blocks that double up to
`BLOCK_FRACTION` of the smaller burst (and `MAX_BLOCK`); one that slows down gets smaller blocks
again, down to one token, which is exactly a round trip per request. Every admitted request
spent a token that Redis handed out, so across any number of gateway processes:

- over any interval, no tenant or client is admitted more than its buckets allow, plus the
  tokens the processes held reserved and unspent when the interval began: at most
  processes x block (block <= max(1, BLOCK_FRACTION x the smaller burst), <= MAX_BLOCK);
- a block not spent within `LEASE_SECONDS` is forfeited: a client can be refused up to that
  many requests early (the same processes x block) for at most the refill of those tokens.

With small limits (a burst under 1 / BLOCK_FRACTION) the block is one token: exact, as before.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway import metrics
from shared.errors import TooManyRequests

log = structlog.get_logger("rate_limit")

_SCRIPT = (Path(__file__).parent / "rate_limit.lua").read_text()
_ERROR_LOG_INTERVAL = 5.0
# A block is at most this share of the smaller burst (tenant's or client's), and at most
# MAX_BLOCK tokens; unspent tokens of a block are forfeited after LEASE_SECONDS.
BLOCK_FRACTION = 0.05
MAX_BLOCK = 64
LEASE_SECONDS = 1.0
# Keys (tenant, client) with a lease kept per process; expired ones are swept beyond this.
_MAX_LEASES = 10_000


def config_key(tenant: str) -> str:
    return f"ratelimit-config:{{{tenant}}}"


@dataclass(frozen=True, slots=True)
class Limits:
    tenant_rate: float
    tenant_burst: int
    client_rate: float
    client_burst: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_seconds: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        """IETF draft RateLimit-* fields (and Retry-After when refused)."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


class _Lease:
    """Tokens of one (tenant, client) reserved from Redis by this process, or the refusal Redis
    last gave (kept until a token can exist again, at most LEASE_SECONDS)."""

    __slots__ = (
        "bucket_remaining",
        "expires",
        "limit",
        "refused_until",
        "reset_seconds",
        "retry_at",
        "size",
        "tokens",
    )  # fmt: skip

    def __init__(self) -> None:
        self.tokens = 0
        self.expires = 0.0
        self.size = 1  # the block to ask for next
        self.limit = 0
        self.bucket_remaining = 0
        self.reset_seconds = 0
        self.refused_until = 0.0
        self.retry_at = 0.0  # when Redis said a token would be there again

    def take(self, now: float) -> Decision | None:
        """One token of the block, or the standing refusal; None: ask Redis."""
        if now < self.refused_until:
            return Decision(
                allowed=False,
                limit=self.limit,
                remaining=0,
                retry_after_seconds=max(1, math.ceil(self.retry_at - now)),
                reset_seconds=self.reset_seconds,
            )
        if self.tokens <= 0 or now >= self.expires:
            return None
        self.tokens -= 1
        return Decision(
            allowed=True,
            limit=self.limit,
            # What Redis still holds, plus what this process holds for the same buckets.
            remaining=self.bucket_remaining + self.tokens,
            retry_after_seconds=1,
            reset_seconds=self.reset_seconds,
        )

    def next_size(self, now: float) -> int:
        """Double the block when the last one was used up before it lapsed (demand of at least
        a block per LEASE_SECONDS), halve it when tokens of it lapsed unspent."""
        if self.expires:
            if now < self.expires:
                self.size = min(MAX_BLOCK, self.size * 2)
            elif self.tokens > 0:
                self.size = max(1, self.size // 2)
        return self.size


class RateLimiter:
    def __init__(
        self,
        redis: Redis,
        defaults: Limits,
        *,
        block_fraction: float = BLOCK_FRACTION,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._defaults = defaults
        self._block_fraction = block_fraction
        self._script = redis.register_script(_SCRIPT)
        self._last_error_log = float("-inf")
        self._leases: dict[tuple[str, str], _Lease] = {}
        # A reservation under way per key: requests arriving meanwhile wait for its block
        # instead of each asking Redis.
        self._reserving: dict[tuple[str, str], asyncio.Future[None]] = {}
        self.reservations = 0  # round trips made (for tests and the benchmark)

    async def check(self, tenant: str, client_id: str) -> Decision | None:
        """Charge one request to the tenant's and the client's buckets (from this process's
        block, or a new block from Redis); None if Redis is down."""
        key = (tenant, client_id)
        while True:
            lease = self._leases.get(key)
            if lease is not None:
                decision = lease.take(self._clock())
                if decision is not None:
                    return decision
            pending = self._reserving.get(key)
            if pending is None:
                break
            await asyncio.shield(pending)
        done = asyncio.get_running_loop().create_future()
        self._reserving[key] = done
        try:
            return await self._reserve(key, lease)
        finally:
            del self._reserving[key]
            done.set_result(None)

    async def _reserve(self, key: tuple[str, str], lease: _Lease | None) -> Decision | None:
        tenant, client_id = key
        if lease is None:
            if len(self._leases) >= _MAX_LEASES:
                self._sweep()
            lease = self._leases[key] = _Lease()
        wanted = lease.next_size(self._clock())
        tag = f"{{{tenant}}}"
        self.reservations += 1
        try:
            allowed, limit, remaining, wait_ms, reset_ms, granted = await self._script(
                keys=[f"ratelimit:{tag}:tenant", f"ratelimit:{tag}:client:{client_id}",
                      config_key(tenant)],
                args=[self._defaults.tenant_rate, self._defaults.tenant_burst,
                      self._defaults.client_rate, self._defaults.client_burst,
                      wanted, self._block_fraction],
            )  # fmt: skip
        except (RedisError, OSError) as exc:
            self._log_unavailable(exc)
            return None
        reset_seconds = math.ceil(int(reset_ms) / 1000)
        lease.limit, lease.reset_seconds = int(limit), reset_seconds
        if not allowed:
            # No token in both buckets before `wait_ms` (only refill adds them): refused here
            # until then without asking, at most LEASE_SECONDS (a raised limit applies by then).
            lease.tokens, lease.expires, lease.size = 0, 0.0, 1
            now, wait = self._clock(), int(wait_ms) / 1000
            lease.refused_until, lease.retry_at = now + min(wait, LEASE_SECONDS), now + wait
            return Decision(
                allowed=False,
                limit=lease.limit,
                remaining=int(remaining),
                retry_after_seconds=max(1, math.ceil(int(wait_ms) / 1000)),
                reset_seconds=reset_seconds,
            )
        lease.tokens = int(granted) - 1  # one for this request
        lease.expires = self._clock() + LEASE_SECONDS
        lease.bucket_remaining = int(remaining)
        return Decision(
            allowed=True,
            limit=lease.limit,
            remaining=lease.bucket_remaining + lease.tokens,
            retry_after_seconds=1,
            reset_seconds=reset_seconds,
        )

    def _sweep(self) -> None:
        """Forget expired leases (a block past its time is worth nothing)."""
        now = self._clock()
        self._leases = {
            key: lease
            for key, lease in self._leases.items()
            if lease.expires > now or key in self._reserving
        }
        while len(self._leases) >= _MAX_LEASES:  # all live: drop the oldest-made
            del self._leases[next(iter(self._leases))]

    async def enforce(self, tenant: str, client_id: str) -> Decision | None:
        """`check`, raising 429 (with Retry-After and RateLimit-*) when over the limit."""
        decision = await self.check(tenant, client_id)
        if decision is not None and not decision.allowed:
            metrics.RATE_LIMITED.inc()
            raise TooManyRequests(
                "Too many requests for this tenant or client; retry later.",
                headers=decision.headers(),
            )
        return decision

    def _log_unavailable(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= _ERROR_LOG_INTERVAL:
            self._last_error_log = now
            log.error("rate limiting skipped: Redis unavailable", error=type(exc).__name__)
