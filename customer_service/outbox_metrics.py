"""Samples the outbox for `/metrics`: how many events wait, how long the oldest has waited,
and how many are parked.

A growing age means the relay is stuck (RabbitMQ down): alert on it. A parked event (the
broker refused it OUTBOX_MAX_ATTEMPTS times) waits for an operator: alert on any.
"""

from __future__ import annotations

from aiohttp import web

from shared import metrics
from shared.app_keys import DB_POOL

# The partial index on unsent rows keeps this cheap however large the sent history grows.
UNSENT_STATS = """
SELECT count(*) AS backlog,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_age
FROM customer.outbox WHERE sent_at IS NULL AND parked_at IS NULL
"""
# outbox_parked_idx holds the parked rows only.
PARKED_COUNT = "SELECT count(*) FROM customer.outbox WHERE parked_at IS NOT NULL"


async def sample_outbox(app: web.Application) -> None:
    """Metrics hook (shared.health.add_metrics_hook)."""
    pool = app.get(DB_POOL)
    if pool is None:
        return
    async with pool.acquire() as conn:
        row = await conn.fetchrow(UNSENT_STATS)
        parked = await conn.fetchval(PARKED_COUNT)
    metrics.OUTBOX_BACKLOG.set(row["backlog"])
    metrics.OUTBOX_PARKED_NOW.set(parked)
    metrics.OUTBOX_OLDEST_AGE.set(max(row["oldest_age"], 0.0))
