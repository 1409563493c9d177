"""`/healthz` (alive), `/readyz` (dependencies answer) and `/metrics` for every service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.app_keys import DB_POOL, METRICS, METRICS_HOOKS, READINESS_CHECKS, SETTINGS
from shared.web import REQUEST_ID_KEY, json_response, problem_response

log = structlog.get_logger("metrics")

MetricsHook = Callable[[web.Application], Awaitable[None]]


async def healthz(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 while every required dependency answers (`degraded` names optional ones that do
    not); a 503 problem naming the failing ones otherwise."""
    failed, degraded = await _failed_checks(request.app)
    if failed:
        return problem_response(
            503,
            "Service Unavailable",
            "A dependency does not answer.",
            type_slug="unavailable",
            errors={**failed, **degraded},
            request_id=request.get(REQUEST_ID_KEY),
        )
    if degraded:
        return json_response({"status": "ready", "degraded": degraded})
    return json_response({"status": "ready"})


async def public_readyz(request: web.Request) -> web.Response:
    """Readiness for anyone who can reach the port: the status only, no dependency named (a
    map of what is down is for operators, on the admin port)."""
    failed, _degraded = await _failed_checks(request.app)
    if failed:
        return problem_response(
            503,
            "Service Unavailable",
            "The service is not ready.",
            type_slug="unavailable",
            request_id=request.get(REQUEST_ID_KEY),
        )
    return json_response({"status": "ready"})


async def _failed_checks(
    app: web.Application,
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The failing checks: (required ones, optional ones), each name → the error's kind."""
    timeout = app[SETTINGS].dependency_timeout
    failed: dict[str, list[str]] = {}
    degraded: dict[str, list[str]] = {}
    for check in app.get(READINESS_CHECKS, []):
        try:
            await asyncio.wait_for(check.probe(), timeout)
        except Exception as exc:  # any failure means "not ready"; the reason is for operators
            (failed if check.required else degraded)[check.name] = [type(exc).__name__]
    return failed, degraded


async def metrics_endpoint(request: web.Request) -> web.Response:
    app = request.app
    metrics = app[METRICS]
    pool = app.get(DB_POOL)
    if pool is not None:
        size, idle = pool.get_size(), pool.get_idle_size()
        metrics.db_pool_size.set(size)
        metrics.db_pool_idle.set(idle)
        metrics.db_pool_in_use.set(size - idle)
        metrics.db_pool_max.set(pool.get_max_size())
    timeout = app[SETTINGS].dependency_timeout
    for hook in app.get(METRICS_HOOKS, []):
        try:
            await asyncio.wait_for(hook(app), timeout)
        except Exception as exc:  # a dependency is down: serve the other metrics anyway
            log.warning("metrics sample failed", hook=hook.__name__, error=type(exc).__name__)
    return web.Response(
        body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def add_metrics_hook(app: web.Application, hook: MetricsHook) -> None:
    """Run `hook(app)` before each scrape of `/metrics` (to sample gauges such as a backlog);
    it gets `DEPENDENCY_TIMEOUT` seconds, and a failure only skips its sample."""
    app[METRICS_HOOKS].append(hook)


def add_health_routes(app: web.Application) -> None:
    """Register the three operational routes on a service's app."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)


def add_public_health_routes(app: web.Application) -> None:
    """Probes for a public port: `/healthz` and a status-only `/readyz`, no `/metrics`."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", public_readyz)
