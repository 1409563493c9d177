"""Typed app keys of impex_worker (the wishlist pool is shared.keys.DB_POOL)."""

from __future__ import annotations

from aiohttp import web

from impex_worker.consumer import Consumer

CONSUMER = web.AppKey("consumer", Consumer)
