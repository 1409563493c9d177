"""The gateway's app factory: its own health routes, then one catch-all proxy route."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from yarl import URL

from gateway import public_api
from gateway.app_keys import LEAN_POOLS, RATE_LIMITER, ROUTES, UPSTREAM_SESSION
from gateway.lean_client import LeanPool
from gateway.metrics import SERVICE_METRICS
from gateway.paths import refuse_dot_segments
from gateway.proxy import forward
from gateway.rate_limit import Limits, RateLimiter
from gateway.upstreams import Route, build_routes, resolve
from shared.app_factory import (
    add_readiness_check,
    create_base_app,
    install_token_verifier,
)
from shared.app_keys import SETTINGS, TOKEN_VERIFIER
from shared.authz import authorize
from shared.errors import NotFound
from shared.settings import Settings
from shared.tokens import TokenVerifier


def create_app(settings: Settings, *, verifier: TokenVerifier | None = None) -> web.Application:
    # Bodies are streamed upstream, never read here, so aiohttp's own body cap does not apply;
    # the proxy enforces the per-endpoint limits from Content-Length.
    # Public: no /metrics (every tenant's traffic) and no dependency names on /readyz; those are
    # on the admin port (`shared.app_factory.admin_app`, served by `python -m gateway`).
    app = create_base_app(
        settings,
        "gateway",
        metrics=SERVICE_METRICS,
        middlewares=[refuse_dot_segments],
        public=True,
    )
    install_token_verifier(app, verifier)
    app[ROUTES] = build_routes(settings)
    app.cleanup_ctx.append(_upstream_session_context)
    app.cleanup_ctx.append(_rate_limiter_context)
    public_api.install(app)  # /openapi.json, /docs; before the catch-all
    app.router.add_route("*", "/{path:.*}", proxy)
    return app


async def proxy(request: web.Request) -> web.StreamResponse:
    target = resolve(request.app[ROUTES], request.rel_url.raw_path)
    if target is None:
        raise NotFound("No such resource.")
    extra_headers: dict[str, str] = {}
    if target.route.authenticated:
        claims = await authorize(request, request.app[TOKEN_VERIFIER], target.upstream_path)
        decision = await request.app[RATE_LIMITER].enforce(claims.tenant, claims.client_id)
        if decision is not None:
            extra_headers = decision.headers()
    app = request.app
    pool = app[LEAN_POOLS].get(target.route.upstream_base)
    return await forward(request, target, app[UPSTREAM_SESSION], extra_headers, pool)


async def _rate_limiter_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # A short timeout: a Redis that hangs must not hold requests up; they pass unlimited instead.
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=0.25, socket_timeout=0.25)
    app[RATE_LIMITER] = RateLimiter(
        redis,
        Limits(
            tenant_rate=settings.rate_limit_tenant_per_second,
            tenant_burst=settings.rate_limit_tenant_burst,
            client_rate=settings.rate_limit_client_per_second,
            client_burst=settings.rate_limit_client_burst,
        ),
    )
    yield
    await redis.aclose()


# Per upstream client (aiohttp's for bodies, the lean one for the rest). Idle connections are
# dropped well before the services' own keep-alive (aiohttp's 75 s) closes them.
_UPSTREAM_CONNECTIONS = 512
_KEEPALIVE_SECONDS = 30.0


async def _upstream_session_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=_UPSTREAM_CONNECTIONS, keepalive_timeout=_KEEPALIVE_SECONDS, ttl_dns_cache=60
        ),
        timeout=aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.upstream_connect_timeout,
            sock_read=settings.upstream_read_timeout,
        ),
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    app[UPSTREAM_SESSION] = session
    app[LEAN_POOLS] = _lean_pools(settings, app[ROUTES])

    async def upstreams_alive() -> None:
        for base in {route.upstream_base for route in app[ROUTES]}:
            async with session.get(f"{base}/healthz") as response:
                response.raise_for_status()

    add_readiness_check(app, "upstreams", upstreams_alive)
    yield
    for pool in app[LEAN_POOLS].values():
        pool.close()
    await session.close()


def _lean_pools(settings: Settings, routes: tuple[Route, ...]) -> dict[str, LeanPool]:
    """A lean keep-alive pool per plain-HTTP upstream (TLS or a base path: aiohttp's client)."""
    pools = {}
    for base in {route.upstream_base for route in routes}:
        url = URL(base)
        if url.scheme != "http" or url.path not in ("", "/") or url.host is None:
            continue
        pools[base] = LeanPool(
            url.host,
            url.port or 80,
            limit=_UPSTREAM_CONNECTIONS,
            keepalive_timeout=_KEEPALIVE_SECONDS,
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_read_timeout,
        )
    return pools
