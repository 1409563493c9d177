"""HTTP in and out for the collection: parse, call one use case, render."""

from __future__ import annotations

from aiohttp import web

from customer_service.app_keys import COLLECTION
from shared.authz import claims_of
from shared.web import json_response, read_optional_json


async def list_customers(request: web.Request) -> web.Response:
    service = request.app[COLLECTION]
    return json_response(await service.list(claims_of(request).tenant, request.query))


async def count_customers(request: web.Request) -> web.Response:
    service = request.app[COLLECTION]
    return json_response(await service.count(claims_of(request).tenant, request.query))


async def search_customers(request: web.Request) -> web.Response:
    body = await read_optional_json(request)
    service = request.app[COLLECTION]
    return json_response(await service.search(claims_of(request).tenant, request.query, body))
