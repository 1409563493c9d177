"""The gateway documents the public API from the route tables the services serve on their own
ports (`GET /routes`), never by importing them: a service serves its real table, the gateway
fetches it, answers 503 for /openapi.json while an upstream does not answer, and documents
what the upstream serves once it does."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from customer_service.app import create_app as create_customer_app
from gateway.app import create_app as create_gateway_app
from gateway.openapi.routes import fetch_route_tables


async def test_customer_service_serves_its_route_table_without_a_token(
    aiohttp_client, jwks_settings
):
    settings, _ = jwks_settings
    app = create_customer_app(settings, run_relay=False)
    client = await aiohttp_client(app)
    response = await client.get("/routes")
    assert response.status == 200
    routes = (await response.json())["routes"]
    assert {"method": "GET", "path": "/api/v2/customers/{id}/export"} in routes
    assert {"method": "POST", "path": "/api/v2/order-events"} in routes
    registered = [
        (r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"
    ]
    assert [(r["method"], r["path"]) for r in routes] == registered


def _stand_in(table: list[dict[str, str]]) -> web.Application:
    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def routes(_request: web.Request) -> web.Response:
        return web.json_response({"routes": table})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/routes", routes)
    return app


async def test_the_gateway_documents_what_the_upstreams_serve(
    aiohttp_client, aiohttp_server, jwks_settings
):
    customers = await aiohttp_server(
        _stand_in(
            [
                {"method": "GET", "path": "/api/v2/customers/{id}"},
                {"method": "GET", "path": "/healthz"},  # operational: never documented
                {"method": "POST", "path": "/internal/only"},  # no public path reaches it
            ]
        )
    )
    token_path = "/auth/realms/{tenant}/protocol/openid-connect/token"
    auth = await aiohttp_server(_stand_in([{"method": "POST", "path": token_path}]))
    settings = dataclasses.replace(
        jwks_settings[0],
        customer_service_url=str(customers.make_url("")).rstrip("/"),
        auth_service_url=str(auth.make_url("")).rstrip("/"),
    )
    tables = await fetch_route_tables(settings)
    assert tables["customer_service"][0] == ("GET", "/api/v2/customers/{id}")
    gateway = await aiohttp_client(create_gateway_app(settings))
    response = await gateway.get("/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert sorted(document["paths"]) == [
        "/auth/realms/{tenant}/protocol/openid-connect/token",
        "/services/customerservice/api/v2/customers/{id}",
    ]


async def test_openapi_json_is_503_while_an_upstream_does_not_answer(aiohttp_client, jwks_settings):
    settings = dataclasses.replace(
        jwks_settings[0],
        customer_service_url="http://127.0.0.1:9",
        auth_service_url="http://127.0.0.1:9",
    )
    gateway = await aiohttp_client(create_gateway_app(settings))
    response = await gateway.get("/openapi.json")
    assert response.status == 503
    assert response.content_type == "application/problem+json"
    assert (await gateway.get("/readyz")).status == 503
