"""The gateway's API document as it is built from the route tables the services serve, for
tests that read the document without running the services (tests may import every package)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from auth_service.app import create_app as create_auth_app
from customer_service.app import create_app as create_customer_app
from gateway.openapi import RouteTables, build_document, public_operations
from shared.route_table import route_table
from shared.settings import Settings


def service_route_tables(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """What each service's `GET /routes` answers (the same function serves it), from its app
    built but never started."""
    apps: dict[str, web.Application] = {
        "customer_service": create_customer_app(settings),
        "auth_service": create_auth_app(settings),
    }
    return {
        service: [(route["method"], route["path"]) for route in route_table(app)]
        for service, app in apps.items()
    }


def suite_document(settings: Settings, tables: RouteTables | None = None) -> dict[str, Any]:
    tables = service_route_tables(settings) if tables is None else tables
    return build_document(settings, public_operations(settings, tables))
