"""Building blocks of every service's app factory and entrypoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import uvloop
from aiohttp import web
from redis.asyncio import Redis

from shared import db
from shared.app_keys import (
    DB_POOL,
    METRICS_HOOKS,
    READINESS_CHECKS,
    REDIS,
    SETTINGS,
    TOKEN_VERIFIER,
)
from shared.health import add_health_routes, add_public_health_routes
from shared.log import configure_logging
from shared.readiness import ReadinessCheck
from shared.revocations import RevocationList
from shared.serving import serve
from shared.settings import Settings
from shared.tokens import TokenVerifier
from shared.web import JSON_BODY_LIMIT, base_middlewares

# How long in-flight requests get to finish after SIGTERM before the process exits.
SHUTDOWN_GRACE_SECONDS = 10.0


def create_base_app(
    settings: Settings,
    service_name: str,
    *,
    middlewares: list | None = None,
    client_max_size: int = JSON_BODY_LIMIT,
    public: bool = False,
) -> web.Application:
    """An app with the shared middlewares, settings and the health/readiness/metrics routes.

    `public`: the app serves the public internet (the gateway): `/healthz` and a status-only
    `/readyz` only; `admin_app` serves the rest on an internal port."""
    app = web.Application(
        middlewares=[*base_middlewares(), *(middlewares or [])], client_max_size=client_max_size
    )
    app[SETTINGS] = settings
    app[READINESS_CHECKS] = []
    app[METRICS_HOOKS] = []
    app.on_response_prepare.append(_name_the_server)
    if public:
        add_public_health_routes(app)
    else:
        add_health_routes(app)
    return app


def admin_app(app: web.Application) -> web.Application:
    """The operational routes of a public `app` (`/metrics`, the detailed `/readyz`) as an app
    of their own, for an internal port. It shares `app`'s settings, readiness checks and
    metrics hooks (the lists themselves: checks added while `app` starts are seen here)."""
    admin = web.Application(middlewares=base_middlewares())
    admin[SETTINGS] = app[SETTINGS]
    admin[READINESS_CHECKS] = app[READINESS_CHECKS]
    admin[METRICS_HOOKS] = app[METRICS_HOOKS]
    admin.on_response_prepare.append(_name_the_server)
    add_health_routes(admin)
    return admin


async def _name_the_server(_request: web.Request, response: web.StreamResponse) -> None:
    # aiohttp's default Server header names its exact version: a gift to a vulnerability scanner.
    response.headers["Server"] = "customer-suite"


def add_readiness_check(app: web.Application, name: str, probe: Callable) -> None:
    app[READINESS_CHECKS].append(ReadinessCheck(name, probe))


def db_pool_context(
    dsn: str | None = None, key: web.AppKey[asyncpg.Pool] = DB_POOL
) -> Callable[[web.Application], AsyncIterator[None]]:
    """cleanup_ctx: an asyncpg pool at `app[key]` (the customer database unless told), checked
    by /readyz."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        pool = await db.create_pool(
            dsn or settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
        )
        app[key] = pool
        add_readiness_check(app, "postgresql", lambda: db.ping(pool))
        yield
        await pool.close()

    return context


async def redis_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: a Redis client at `app[REDIS]` (connects lazily), checked by /readyz."""
    settings = app[SETTINGS]
    client = Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.dependency_timeout,
        socket_timeout=settings.dependency_timeout,
    )
    app[REDIS] = client
    add_readiness_check(app, "redis", client.ping)
    yield
    await client.aclose()


def build_token_verifier(
    settings: Settings, revocations: RevocationList | None = None
) -> TokenVerifier:
    return TokenVerifier(
        jwks_url=settings.jwks_url,
        audience=settings.token_audience,
        issuer_for=settings.issuer_for,
        leeway_seconds=settings.token_leeway_seconds,
        min_refresh_seconds=settings.jwks_min_refresh_seconds,
        refresh_seconds=settings.jwks_refresh_seconds,
        max_lifetime_seconds=settings.token_ttl_seconds,
        revocations=revocations,
    )


def install_token_verifier(app: web.Application, verifier: TokenVerifier | None) -> TokenVerifier:
    """The app's verifier (the given one, or one with a local revocation list kept in sync with
    Redis by a background task, which also passes on "the keys changed"), its JWKS refreshed
    on a schedule by another, closed on shutdown."""
    if verifier is None:
        revocations = RevocationList(app[SETTINGS].redis_url)
        verifier = build_token_verifier(app[SETTINGS], revocations)
        revocations.on_keys_changed = verifier.request_refresh
        app.cleanup_ctx.append(_revocations_context(revocations))
    app[TOKEN_VERIFIER] = verifier
    app.cleanup_ctx.append(_token_verifier_context)
    return verifier


def _revocations_context(
    revocations: RevocationList,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(revocations.run(), name="revocation-sync")
        yield
        await cancel_and_wait(task)

    return context


async def cancel_and_wait(task: asyncio.Task, *, retry_after: float = 1.0) -> None:
    """Cancel `task` and wait until it has ended, cancelling again while it has not: a pubsub
    read of redis-py can swallow a cancellation that races with its own read timeout, and a
    swallowed one would hold the service's shutdown forever."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=retry_after)
    if not task.cancelled():
        task.result()  # an error it ended with surfaces, as `await task` would raise it


async def _token_verifier_context(app: web.Application) -> AsyncIterator[None]:
    verifier = app[TOKEN_VERIFIER]
    task = asyncio.create_task(verifier.run(), name="jwks-refresh")
    yield
    await cancel_and_wait(task)
    await verifier.close()


def run_service(
    app: web.Application,
    *,
    port: int,
    service_name: str,
    settings: Settings,
    admin: tuple[web.Application, int] | None = None,
) -> None:
    """Serve `app` until SIGINT/SIGTERM, then stop accepting and let in-flight requests finish
    (their request bodies included: see shared.serving for why not `web.run_app`). `admin`: an
    operational app and its port, served beside it until it has stopped."""
    configure_logging(service_name, settings.log_level)
    uvloop.install()
    asyncio.run(
        serve(
            app,
            host=settings.bind_host,
            port=port,
            grace_seconds=SHUTDOWN_GRACE_SECONDS,
            admin=admin,
        )
    )
