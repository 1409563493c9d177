"""HTTP in and out for the customer API: parse, call one use case, render."""

from __future__ import annotations

from aiohttp import web

from customer_service.keys import CUSTOMERS
from shared.authz import claims_of
from shared.web import json_response, read_json


async def create_customer(request: web.Request) -> web.Response:
    body = await read_json(request)
    customer = await request.app[CUSTOMERS].create(claims_of(request).tenant, body)
    return json_response(customer, status=201)


async def get_customer(request: web.Request) -> web.Response:
    customer = await request.app[CUSTOMERS].get_by_id(
        claims_of(request).tenant, request.match_info["customer_id"]
    )
    return json_response(customer)


async def delete_customer(request: web.Request) -> web.Response:
    await request.app[CUSTOMERS].delete_by_id(
        claims_of(request).tenant, request.match_info["customer_id"]
    )
    return web.Response(status=204)
