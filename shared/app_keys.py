"""Typed application keys for resources more than one service keeps on its aiohttp app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from shared.readiness import ReadinessCheck
from shared.settings import Settings
from shared.tokens import TokenVerifier

SETTINGS = web.AppKey("settings", Settings)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
# The wishlist store (customer_service reads it for exports, impex_worker de-identifies it).
WISHLIST_POOL = web.AppKey("wishlist_pool", asyncpg.Pool)
REDIS = web.AppKey("redis", Redis)
TOKEN_VERIFIER = web.AppKey("token_verifier", TokenVerifier)
READINESS_CHECKS = web.AppKey("readiness_checks", list[ReadinessCheck])
# Callables sampling gauges before each /metrics scrape (shared.health.add_metrics_hook).
METRICS_HOOKS = web.AppKey("metrics_hooks", list[Callable[[web.Application], Awaitable[None]]])
