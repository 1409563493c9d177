"""Samples the outbox for `/metrics`: how many events wait, and how long the oldest has waited.

A growing age means the relay is stuck (RabbitMQ down, a poison row): alert on it.
"""

from __future__ import annotations

from aiohttp import web

from shared import metrics
from shared.keys import DB_POOL

# The partial index on unsent rows keeps this cheap however large the sent history grows.
UNSENT_STATS = """
SELECT count(*) AS backlog,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_age
FROM customer.outbox WHERE sent_at IS NULL
"""


async def sample_outbox(app: web.Application) -> None:
    """Metrics hook (shared.health.add_metrics_hook)."""
    pool = app.get(DB_POOL)
    if pool is None:
        return
    async with pool.acquire() as conn:
        row = await conn.fetchrow(UNSENT_STATS)
    metrics.OUTBOX_BACKLOG.set(row["backlog"])
    metrics.OUTBOX_OLDEST_AGE.set(max(row["oldest_age"], 0.0))
