"""A service's route table, served on its own (internal) port for the gateway's API document.

The gateway describes the public API from the routes the services really register, without
importing them (ARCHITECTURE.md: no service imports another): each service serves
`GET /routes`, an operational route like `/healthz` that the gateway never proxies, and the
gateway reads it from each upstream (`gateway.openapi.routes`).
"""

from __future__ import annotations

from aiohttp import hdrs, web

from shared.web import json_response

ROUTE_TABLE_PATH = "/routes"


def route_table(app: web.Application) -> list[dict[str, str]]:
    """`{"method", "path"}` of every route in registration order: `path` is the template as
    registered (`/api/v2/customers/{id}`), `method` upper case or `*`; HEAD twins left out."""
    table = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == hdrs.METH_HEAD:
            continue
        table.append({"method": route.method.upper(), "path": resource.canonical})
    return table


async def serve_route_table(request: web.Request) -> web.Response:
    return json_response({"routes": route_table(request.app)})


def add_route_table_route(app: web.Application) -> None:
    app.router.add_get(ROUTE_TABLE_PATH, serve_route_table)
