"""The rate limiter's block reservation against real Redis: several gateway processes (limiters,
and whole gateway apps) sharing one tenant's buckets never admit more than the buckets hold,
forfeit what they do not spend in time, and save Redis round trips while a client is busy.
Two whole gateway apps sharing one limit: tests/integration/test_gateway.py."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from gateway import rate_limit
from gateway.rate_limit import Limits, RateLimiter, config_key

# Refill too slow to matter while a test runs: what is admitted is what the bucket held.
NO_REFILL = {"rate": 0.001, "client_rate": 0.001}
DEFAULTS = Limits(tenant_rate=1000, tenant_burst=10_000, client_rate=1000, client_burst=10_000)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(test_settings):
    client = Redis.from_url(test_settings.redis_url)
    yield client
    await client.aclose()


async def _drain(limiters: list[RateLimiter], tenant: str, requests: int) -> list[bool]:
    """`requests` checks spread over the limiters, 16 at a time on each: who was admitted."""
    admitted: list[bool] = []
    for start in range(0, requests, 16 * len(limiters)):
        wave = [
            limiters[i % len(limiters)].check(tenant, "client")
            for i in range(start, min(requests, start + 16 * len(limiters)))
        ]
        admitted += [
            decision is not None and decision.allowed for decision in await asyncio.gather(*wave)
        ]
    return admitted


async def test_two_processes_never_admit_more_than_the_bucket_holds(redis, unique_tenant):
    """Burst 400 (blocks of up to 20): two limiters hammering one tenant admit at most 400, lose
    at most a block each, and ask Redis far less often than once per request."""
    await redis.hset(config_key(unique_tenant), mapping={**NO_REFILL, "burst": 400,
                                                         "client_burst": 400})  # fmt: skip
    limiters = [RateLimiter(redis, DEFAULTS) for _ in range(2)]
    admitted = await _drain(limiters, unique_tenant, 600)
    count = sum(admitted)
    assert count <= 400
    assert count >= 400 - 2 * 20  # what each may still hold unspent
    assert sum(limiter.reservations for limiter in limiters) < count / 4
    # Once refused, refused: the tail of the run is all 429s.
    assert not any(admitted[-100:])


async def test_small_bursts_are_exact(redis, unique_tenant):
    """A burst under 1 / BLOCK_FRACTION reserves one token at a time: exactly the burst
    passes, whichever process asks."""
    await redis.hset(config_key(unique_tenant), mapping={**NO_REFILL, "burst": 5})
    limiters = [RateLimiter(redis, DEFAULTS) for _ in range(2)]
    admitted = []
    for i in range(8):
        decision = await limiters[i % 2].check(unique_tenant, "client")
        assert decision is not None
        admitted.append(decision.allowed)
    assert admitted == [True] * 5 + [False] * 3
    assert decision.remaining == 0 and decision.retry_after_seconds >= 1
    # One round trip per grant, then one refusal from Redis per process; the last refusal
    # stood locally.
    assert sum(limiter.reservations for limiter in limiters) == 5 + 2


async def test_unspent_tokens_lapse_and_blocks_shrink(redis, unique_tenant):
    """A block not spent within LEASE_SECONDS is forfeited (never spent later), and the next
    block after such a lapse is smaller."""
    await redis.hset(config_key(unique_tenant), mapping={**NO_REFILL, "burst": 1000,
                                                         "client_burst": 1000})  # fmt: skip
    clock = FakeClock()
    limiter = RateLimiter(redis, DEFAULTS, clock=clock)
    for _ in range(40):  # busy: blocks grow 1, 2, 4, 8, 16, 32 …
        assert (await limiter.check(unique_tenant, "client")).allowed
    lease = limiter._leases[unique_tenant, "client"]
    held, size = lease.tokens, lease.size
    assert held > 0 and size > 1
    clock.now += rate_limit.LEASE_SECONDS
    before = limiter.reservations
    decision = await limiter.check(unique_tenant, "client")
    assert decision.allowed
    assert limiter.reservations == before + 1  # the lapsed block was not used
    assert lease.size == size // 2
    # Redis never gets the lapsed tokens back: the bucket shows them spent.
    tokens = float((await redis.hget(f"ratelimit:{{{unique_tenant}}}:tenant", "tokens")).decode())
    assert tokens <= 1000 - 40 - held


async def test_a_refusal_stands_locally_until_a_token_can_exist(redis, unique_tenant):
    """After Redis refuses, the process refuses without asking until the refill could have
    produced a token (at most LEASE_SECONDS), with Retry-After from Redis's answer."""
    await redis.hset(config_key(unique_tenant), mapping={"rate": 0.5, "burst": 1})
    clock = FakeClock()
    limiter = RateLimiter(redis, DEFAULTS, clock=clock)
    assert (await limiter.check(unique_tenant, "client")).allowed
    refused = await limiter.check(unique_tenant, "client")
    assert not refused.allowed and refused.retry_after_seconds == 2
    asked = limiter.reservations
    again = await limiter.check(unique_tenant, "client")
    assert not again.allowed and again.retry_after_seconds == 2
    assert limiter.reservations == asked
    clock.now += rate_limit.LEASE_SECONDS
    await limiter.check(unique_tenant, "client")
    assert limiter.reservations == asked + 1  # asks Redis again after at most a second
