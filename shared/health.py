"""`/healthz` (alive), `/readyz` (dependencies answer) and `/metrics` for every service."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.keys import DB_POOL, READINESS_CHECKS, SETTINGS
from shared.metrics import DB_POOL_IDLE, DB_POOL_SIZE
from shared.web import REQUEST_ID_KEY, json_response, problem_response


async def healthz(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    timeout = request.app[SETTINGS].dependency_timeout
    failed: dict[str, list[str]] = {}
    for check in request.app.get(READINESS_CHECKS, []):
        try:
            await asyncio.wait_for(check.probe(), timeout)
        except Exception as exc:  # any failure means "not ready"; the reason is for operators
            failed[check.name] = [type(exc).__name__]
    if failed:
        return problem_response(
            503,
            "Service Unavailable",
            "A dependency does not answer.",
            type_slug="unavailable",
            errors=failed,
            request_id=request.get(REQUEST_ID_KEY),
        )
    return json_response({"status": "ready"})


async def metrics_endpoint(request: web.Request) -> web.Response:
    pool = request.app.get(DB_POOL)
    if pool is not None:
        DB_POOL_SIZE.set(pool.get_size())
        DB_POOL_IDLE.set(pool.get_idle_size())
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_health_routes(app: web.Application) -> None:
    """Register the three operational routes on a service's app."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
