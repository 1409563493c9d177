"""POST /customers/batch: parse, run, answer 200 or 207."""

from __future__ import annotations

from aiohttp import web

from customer_service.app_keys import BATCH
from shared.authz import claims_of
from shared.web import json_response, read_json


async def run_batch(request: web.Request) -> web.Response:
    body = await read_json(request)
    status, document = await request.app[BATCH].run(claims_of(request).tenant, body)
    return json_response(document, status=status)
