"""HTTP in and out for the v1 resource: parse, call one v1 use case, render."""

from __future__ import annotations

from aiohttp import web

from customer_service.app_keys import V1_CUSTOMERS
from shared.authz import claims_of
from shared.imports.representation import batch_location
from shared.web import json_response, read_json


def _tenant(request: web.Request) -> str:
    return claims_of(request).tenant


async def create_customer(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(await request.app[V1_CUSTOMERS].create(_tenant(request), body), status=201)


async def update_customer(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(await request.app[V1_CUSTOMERS].update(_tenant(request), body))


async def get_customer(request: web.Request) -> web.Response:
    customer = await request.app[V1_CUSTOMERS].get(_tenant(request), request.match_info["id"])
    return json_response(customer)


async def delete_customer(request: web.Request) -> web.Response:
    await request.app[V1_CUSTOMERS].delete(_tenant(request), request.match_info["id"])
    return web.Response(status=204)


async def upload_customers(request: web.Request) -> web.Response:
    body = await read_json(request)
    batch = await request.app[V1_CUSTOMERS].upload(_tenant(request), body)
    return json_response(batch, status=202, headers={"Location": batch_location(batch["id"])})
