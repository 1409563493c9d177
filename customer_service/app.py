"""customer_service's app factory: the customer API, its token check, and the outbox relay."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from customer_service.app_keys import (
    BATCH,
    COLLECTION,
    CUSTOMERS,
    EXPORT,
    IMPORTS,
    NOTES,
    ORDERS,
    UPLOAD_SLOTS,
    V1_CUSTOMERS,
)
from customer_service.batch.service import BatchService
from customer_service.collection.service import CollectionService
from customer_service.export.service import ExportService
from customer_service.idempotency import idempotency_middleware
from customer_service.imports.service import ImportService
from customer_service.imports.uploads import UploadSlots
from customer_service.notes_service import NoteService
from customer_service.orders.service import OrderService
from customer_service.outbox_metrics import sample_outbox
from customer_service.outbox_relay import OutboxRelay
from customer_service.retention import RetentionSweeper
from customer_service.routes import add_routes, is_public
from customer_service.service import CustomerService
from customer_service.shoppers.routes import shoppers_context
from customer_service.v1.service import V1CustomerService
from shared import db
from shared.amqp import Publisher
from shared.app_factory import (
    add_readiness_check,
    cancel_and_wait,
    create_base_app,
    db_pool_context,
    install_token_verifier,
)
from shared.app_keys import DB_POOL, SETTINGS, WISHLIST_POOL
from shared.authz import auth_middleware
from shared.health import add_metrics_hook
from shared.settings import Settings
from shared.tokens import TokenVerifier


def create_app(
    settings: Settings, *, verifier: TokenVerifier | None = None, run_relay: bool = True
) -> web.Application:
    """customer_service; `run_relay` runs its background work (outbox relay, retention sweep)."""
    app = create_base_app(settings, "customer_service")
    verifier = install_token_verifier(app, verifier)
    app.middlewares.append(auth_middleware(verifier, is_public=is_public))
    # The app login: row-level security binds every statement of this pool (0008).
    app.middlewares.append(idempotency_middleware())
    app.cleanup_ctx.append(db_pool_context(settings.app_dsn))
    app.cleanup_ctx.append(_wishlist_pool_context)
    app.cleanup_ctx.append(_services_context)
    app.cleanup_ctx.append(shoppers_context)
    add_metrics_hook(app, sample_outbox)
    if run_relay:
        app.cleanup_ctx.append(_outbox_relay_context)
        app.cleanup_ctx.append(_retention_context)
    add_routes(app)
    return app


async def _services_context(app: web.Application) -> AsyncIterator[None]:
    app[CUSTOMERS] = CustomerService(app[DB_POOL])
    app[NOTES] = NoteService(app[DB_POOL])
    app[IMPORTS] = ImportService(app[DB_POOL])
    app[UPLOAD_SLOTS] = UploadSlots(app[SETTINGS].upload_concurrency_per_tenant)
    app[ORDERS] = OrderService(app[DB_POOL])
    app[V1_CUSTOMERS] = V1CustomerService(app[CUSTOMERS], app[IMPORTS])
    app[COLLECTION] = CollectionService(app[DB_POOL])
    app[BATCH] = BatchService(app[CUSTOMERS])
    app[EXPORT] = ExportService(app[DB_POOL], app[WISHLIST_POOL])
    yield


async def _wishlist_pool_context(app: web.Application) -> AsyncIterator[None]:
    """The wishlist store's pool (exports read it): the main pool when it is the same database."""
    settings = app[SETTINGS]
    if settings.wishlist_database_url == settings.database_url:
        app[WISHLIST_POOL] = app[DB_POOL]
        yield
        return
    pool = await db.create_pool(settings.wishlist_database_url, min_size=0, max_size=4)
    app[WISHLIST_POOL] = pool
    try:
        yield
    finally:
        await pool.close()


async def _outbox_relay_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    publisher = Publisher(settings.amqp_url)
    add_readiness_check(app, "rabbitmq", publisher.ping)
    relay = OutboxRelay(
        app[DB_POOL],
        publisher,
        dsn=settings.app_dsn,
        max_attempts=settings.outbox_max_attempts,
    )
    task = asyncio.create_task(relay.run(), name="outbox-relay")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await relay.close()
    await publisher.close()


async def _retention_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    sweeper = RetentionSweeper(
        app[DB_POOL],
        import_file_retention=timedelta(days=settings.import_file_retention_days),
        outbox_sent_retention=timedelta(days=settings.outbox_sent_retention_days),
        interval=settings.retention_sweep_interval_seconds,
    )
    task = asyncio.create_task(sweeper.run(), name="retention-sweep")
    yield
    await cancel_and_wait(task)
