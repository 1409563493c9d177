"""HTTP in and out for the orders feed."""

from __future__ import annotations

from aiohttp import web

from customer_service.app_keys import ORDERS
from shared.authz import claims_of
from shared.web import json_response, read_json


async def post_order_events(request: web.Request) -> web.Response:
    body = await read_json(request)
    accepted = await request.app[ORDERS].accept(claims_of(request).tenant, body)
    return json_response({"accepted": accepted}, status=202)
