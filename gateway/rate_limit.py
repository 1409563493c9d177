"""Per-tenant and per-client rate limits: token buckets in Redis, one round trip per request.

Limits default to the settings and can be set per tenant in the hash `ratelimit-config:{tenant}`
(fields rate, burst, client_rate, client_burst; see `python -m gateway rate-limit`). Keys carry
the tenant as a hash tag, so a Redis Cluster keeps one tenant's keys on one shard. While Redis is
down, requests pass unlimited and an error is logged (at most every few seconds).
"""

from __future__ import annotations

import math
import time
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


class RateLimiter:
    def __init__(self, redis: Redis, defaults: Limits) -> None:
        self._redis = redis
        self._defaults = defaults
        self._script = redis.register_script(_SCRIPT)
        self._last_error_log = float("-inf")

    async def check(self, tenant: str, client_id: str) -> Decision | None:
        """Charge one request to the tenant's and the client's buckets; None if Redis is down."""
        tag = f"{{{tenant}}}"
        try:
            allowed, limit, remaining, wait_ms, reset_ms = await self._script(
                keys=[f"ratelimit:{tag}:tenant", f"ratelimit:{tag}:client:{client_id}",
                      config_key(tenant)],
                args=[self._defaults.tenant_rate, self._defaults.tenant_burst,
                      self._defaults.client_rate, self._defaults.client_burst],
            )  # fmt: skip
        except (RedisError, OSError) as exc:
            self._log_unavailable(exc)
            return None
        return Decision(
            allowed=bool(allowed),
            limit=int(limit),
            remaining=int(remaining),
            retry_after_seconds=max(1, math.ceil(int(wait_ms) / 1000)),
            reset_seconds=math.ceil(int(reset_ms) / 1000),
        )

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
