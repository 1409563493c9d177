"""The route table of customer_service (upstream paths, without the gateway's prefixes)."""

from __future__ import annotations

from aiohttp import web

from customer_service import handlers

API = "/api/v2"


def add_routes(app: web.Application) -> None:
    app.router.add_post(f"{API}/customers", handlers.create_customer)
    app.router.add_get(f"{API}/customers/{{customer_id}}", handlers.get_customer)
    app.router.add_delete(f"{API}/customers/{{customer_id}}", handlers.delete_customer)


def is_public(path: str) -> bool:
    """Operational routes need no token; everything under /api does."""
    return not path.startswith("/api/")
