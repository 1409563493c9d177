"""impex_worker's app factory: health, readiness and metrics over HTTP; the work is consuming.

Each resource has its own cleanup_ctx. On shutdown they close in reverse: the consumer stops
first (in-flight messages finish and are acked), then the import runner and the customer
pool, then the wishlist pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from impex_worker.app_keys import CONSUMER, CUSTOMER_POOL
from impex_worker.consumer import Consumer, Subscription
from impex_worker.handlers import customer_deleted_handler
from impex_worker.imports.setup import import_subscriptions, imports_context
from impex_worker.orders import order_upserted_handler
from shared import db
from shared.amqp import CUSTOMER_DELETED_QUEUE, ORDERS_QUEUE
from shared.app_factory import (
    SHUTDOWN_GRACE_SECONDS,
    add_readiness_check,
    create_base_app,
    db_pool_context,
)
from shared.app_keys import SETTINGS, WISHLIST_POOL
from shared.settings import Settings

SERVICE_NAME = "impex_worker"
# Messages handled at once per worker: enough to overlap database round trips, small enough
# that a stopping worker finishes them within its grace period.
PREFETCH_COUNT = 32


def create_app(
    settings: Settings,
    *,
    wishlist_pool: asyncpg.Pool | None = None,
    customer_pool: asyncpg.Pool | None = None,
    amqp_connection: AbstractRobustConnection | None = None,
) -> web.Application:
    """The worker app. A pool or connection handed in is used instead of opening one (and
    is left open on shutdown: it belongs to the caller)."""
    app = create_base_app(settings, SERVICE_NAME)
    if wishlist_pool is None:
        app.cleanup_ctx.append(db_pool_context(settings.wishlist_database_url, WISHLIST_POOL))
    else:
        app[WISHLIST_POOL] = wishlist_pool
        add_readiness_check(app, "postgresql", lambda: db.ping(wishlist_pool))
    app.cleanup_ctx.append(imports_context(customer_pool))
    app.cleanup_ctx.append(_consumer_context(amqp_connection))
    return app


def subscriptions(app: web.Application) -> list[Subscription]:
    """Every queue this worker consumes, with its handler."""
    settings = app[SETTINGS]
    return [
        Subscription(
            CUSTOMER_DELETED_QUEUE,
            customer_deleted_handler(app[WISHLIST_POOL], pseudonym_key=settings.pseudonym_key),
        ),
        *import_subscriptions(app),
        Subscription(ORDERS_QUEUE, order_upserted_handler(app[CUSTOMER_POOL])),
    ]


def _consumer_context(
    connection: AbstractRobustConnection | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        consumer = Consumer(
            app[SETTINGS].amqp_url,
            subscriptions(app),
            prefetch_count=PREFETCH_COUNT,
            connection=connection,
        )
        app[CONSUMER] = consumer
        add_readiness_check(app, "rabbitmq", consumer.ping)
        consumer.start()
        yield
        await consumer.stop(grace=SHUTDOWN_GRACE_SECONDS)

    return context
