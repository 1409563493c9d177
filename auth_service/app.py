"""auth_service's app factory: the OAuth endpoints, the JWKS, the key ring's refresh task and
the task that keeps Redis holding every revocation PostgreSQL knows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from auth_service.app_keys import KEYRING, TOKENS
from auth_service.brute_force import FailureLimiter, FailureLimits
from auth_service.revocation_sync import RevocationStore, RevocationSync
from auth_service.routes import add_routes
from auth_service.service import TokenService
from auth_service.signing import KeyRing
from shared import db
from shared.app_factory import (
    add_readiness_check,
    cancel_and_wait,
    create_base_app,
    db_pool_context,
    redis_context,
)
from shared.app_keys import DB_POOL, REDIS, SETTINGS
from shared.settings import Settings

Context = Callable[[web.Application], AsyncIterator[None]]

# How often each replica reloads the signing keys even when nothing points to a change.
KEY_REFRESH_SECONDS = 30.0


def create_app(
    settings: Settings,
    *,
    pool: asyncpg.Pool | None = None,
    redis: Redis | None = None,
    failure_limits: FailureLimits | None = None,
) -> web.Application:
    """The auth service. A `pool` or `redis` passed in is used as is and left open at shutdown."""
    app = create_base_app(settings, "auth_service")
    app.cleanup_ctx.append(db_pool_context() if pool is None else _given_pool(pool))
    app.cleanup_ctx.append(redis_context if redis is None else _given_redis(redis))
    app.cleanup_ctx.append(_keyring_context)
    app.cleanup_ctx.append(_services_context(failure_limits))
    add_routes(app)
    return app


def _given_pool(pool: asyncpg.Pool) -> Context:
    async def context(app: web.Application) -> AsyncIterator[None]:
        app[DB_POOL] = pool
        add_readiness_check(app, "postgresql", lambda: db.ping(pool))
        yield

    return context


def _given_redis(redis: Redis) -> Context:
    async def context(app: web.Application) -> AsyncIterator[None]:
        app[REDIS] = redis
        add_readiness_check(app, "redis", redis.ping)
        yield

    return context


async def _keyring_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    keyring = KeyRing(
        app[DB_POOL],
        token_ttl_seconds=settings.token_ttl_seconds,
        leeway_seconds=settings.token_leeway_seconds,
    )
    app[KEYRING] = keyring

    async def has_signing_key() -> None:
        if keyring.current_kid is None:
            await keyring.reload()

    add_readiness_check(app, "signing_key", has_signing_key)
    # Not awaited here: the service starts even if PostgreSQL is late, and becomes ready with it.
    task = asyncio.create_task(keyring.run(KEY_REFRESH_SECONDS), name="signing-keys-refresh")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _services_context(failure_limits: FailureLimits | None) -> Context:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        app[TOKENS] = TokenService(
            app[DB_POOL],
            app[KEYRING],
            FailureLimiter(app[REDIS], failure_limits),
            RevocationStore(app[DB_POOL], app[REDIS], leeway_seconds=settings.token_leeway_seconds),
            settings,
        )
        sync = RevocationSync(
            app[DB_POOL],
            app[REDIS],
            token_lifetime_seconds=settings.token_ttl_seconds + settings.token_leeway_seconds,
        )
        # Rebuilds the Redis view of revocations from PostgreSQL now and keeps re-checking it.
        task = asyncio.create_task(
            sync.run(settings.revocation_resync_seconds), name="revocations-sync"
        )
        yield
        await cancel_and_wait(task)

    return context
