"""The address sub-resource (API.md §7): list a customer's addresses, change one."""

from __future__ import annotations

from aiohttp import web

from customer_service.app_keys import CUSTOMERS
from shared.authz import claims_of
from shared.web import json_response, read_json


async def list_addresses(request: web.Request) -> web.Response:
    addresses = await request.app[CUSTOMERS].addresses(
        claims_of(request).tenant, request.match_info["id"]
    )
    return json_response(addresses)


async def update_address(request: web.Request) -> web.Response:
    body = await read_json(request)
    customer = await request.app[CUSTOMERS].update_address(
        claims_of(request).tenant, request.match_info["id"], request.match_info["address_id"], body
    )
    return json_response(customer)
