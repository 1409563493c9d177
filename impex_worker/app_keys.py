"""Typed app keys of impex_worker (the wishlist pool is shared.app_keys.WISHLIST_POOL)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from impex_worker.consumer import Consumer
from impex_worker.imports.runner import BatchRunner

CONSUMER = web.AppKey("consumer", Consumer)
# The customer database (imports write customers there).
CUSTOMER_POOL = web.AppKey("customer_pool", asyncpg.Pool)
IMPORT_RUNNER = web.AppKey("import_runner", BatchRunner)
