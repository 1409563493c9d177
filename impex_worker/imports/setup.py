"""Wiring the importer into the worker app: its pool (the customer database, not the wishlist
one), its validator and runner, and the two queues it consumes."""

from __future__ import annotations

import contextlib
import gc
import math
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
from aiohttp import web

from impex_worker.app_keys import CUSTOMER_POOL, IMPORT_RUNNER
from impex_worker.consumer import Subscription
from impex_worker.imports.handlers import dead_letter_handler, import_handler
from impex_worker.imports.runner import BatchRunner
from impex_worker.imports.validation import Validator
from shared import db
from shared.amqp import IMPORTS_DEAD_LETTER_QUEUE, IMPORTS_QUEUE
from shared.app_factory import add_readiness_check
from shared.app_keys import SETTINGS

# Validation runs in one thread, beside the event loop that writes the previous chunk. With the
# schema's precompiled twin it is a small part of a row's cost (parsing and merging are larger),
# and handing records to validator processes and the results back costs as much CPU as
# validating them: measured on 2 cores, processes took more CPU and twice the memory for the
# same throughput. (`available_cpus` stays for sizing that on larger machines.)
VALIDATOR_PROCESSES = 0  # 0: one thread (see Validator)
# Chunks allocate tens of thousands of small objects; the default gen-0 threshold (700) would
# have the cyclic collector walk them over and over. Imports make no reference cycles to speak of.
GC_THRESHOLDS = (50_000, 20, 100)
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
        app[CUSTOMER_POOL] = customer_pool
        add_readiness_check(app, "postgresql-customers", lambda: db.ping(customer_pool))
        gc.set_threshold(*GC_THRESHOLDS)
        validator = Validator(VALIDATOR_PROCESSES)
        app[IMPORT_RUNNER] = BatchRunner(
            customer_pool, drop_dir=settings.impex_drop_dir, validator=validator
        )
        yield
        validator.close()
        if own_pool:
            await customer_pool.close()

    return context


def available_cpus(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may use: the cgroup (v2) quota when there is one (a container's CPU
    limit), else the CPUs it may run on."""
    cpus = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError, ValueError):
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    return cpus


def import_subscriptions(app: web.Application) -> list[Subscription]:
    pool = app[CUSTOMER_POOL]
    drop_dir = app[SETTINGS].impex_drop_dir
    return [
        Subscription(IMPORTS_QUEUE, import_handler(app[IMPORT_RUNNER], pool, drop_dir=drop_dir)),
        Subscription(IMPORTS_DEAD_LETTER_QUEUE, dead_letter_handler(pool)),
    ]
