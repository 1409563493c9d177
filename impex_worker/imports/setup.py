"""Wiring the importer into the worker app: its pool (the customer database, not the wishlist
one), its validator and runner, and the two queues it consumes."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator, Callable

import asyncpg
from aiohttp import web

from impex_worker.app_keys import IMPORT_RUNNER
from impex_worker.consumer import Subscription
from impex_worker.imports.handlers import dead_letter_handler, import_handler
from impex_worker.imports.runner import BatchRunner
from impex_worker.imports.validation import Validator
from shared import db
from shared.amqp import IMPORTS_DEAD_LETTER_QUEUE, IMPORTS_QUEUE
from shared.app_factory import add_readiness_check
from shared.app_keys import DB_POOL, SETTINGS

# Chunks allocate tens of thousands of small objects; the default gen-0 threshold (700) would
# have the cyclic collector walk them over and over. Imports make no reference cycles to speak of.
GC_THRESHOLDS = (50_000, 20, 100)
# The validation thread prepares the next chunk in pure Python while the event loop waits for
# PostgreSQL; each time an answer comes the loop needs the GIL back, and waits up to the switch
# interval for it (5 ms by default, a dozen times per chunk). 1 ms keeps the chunk's
# transaction moving at the cost of a few more switches.
SWITCH_INTERVAL_SECONDS = 0.001
# Statements of a chunk can take long on a busy database; requests' 10 s would be too short.
COMMAND_TIMEOUT_SECONDS = 300.0


def imports_context(
    pool: asyncpg.Pool | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """cleanup_ctx: the customer database pool (unless handed in) and the batch runner."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        own_pool = pool is None
        customer_pool = pool or await db.create_pool(
            settings.app_dsn,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            command_timeout=COMMAND_TIMEOUT_SECONDS,
        )
        app[DB_POOL] = customer_pool
        add_readiness_check(app, "postgresql-customers", lambda: db.ping(customer_pool))
        gc.set_threshold(*GC_THRESHOLDS)
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        validator = Validator()
        app[IMPORT_RUNNER] = BatchRunner(
            customer_pool, drop_dir=settings.impex_drop_dir, validator=validator
        )
        yield
        validator.close()
        if own_pool:
            await customer_pool.close()

    return context


def import_subscriptions(app: web.Application) -> list[Subscription]:
    pool = app[DB_POOL]
    drop_dir = app[SETTINGS].impex_drop_dir
    return [
        Subscription(IMPORTS_QUEUE, import_handler(app[IMPORT_RUNNER], pool, drop_dir=drop_dir)),
        Subscription(IMPORTS_DEAD_LETTER_QUEUE, dead_letter_handler(pool)),
    ]
