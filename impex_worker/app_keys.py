"""Typed app keys of impex_worker (its pools are shared.app_keys' DB_POOL, the customer
database its imports and order facts write, and WISHLIST_POOL)."""

from __future__ import annotations

from aiohttp import web

from impex_worker.consumer import Consumer
from impex_worker.imports.runner import BatchRunner

CONSUMER = web.AppKey("consumer", Consumer)
IMPORT_RUNNER = web.AppKey("import_runner", BatchRunner)
