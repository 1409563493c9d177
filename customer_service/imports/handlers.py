"""HTTP in and out for the import API: parse, call one use case, render."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from customer_service.imports.representation import batch_location
from customer_service.keys import IMPORTS
from shared.authz import claims_of
from shared.web import json_response, read_json

# Upload bodies are read in pieces of this size, never whole (client_max_size does not apply).
_UPLOAD_READ_BYTES = 256 * 1024


def _tenant(request: web.Request) -> str:
    return claims_of(request).tenant


def _with_location(batch: dict[str, Any], status: int) -> web.Response:
    return json_response(batch, status=status, headers={"Location": batch_location(batch["id"])})


async def create_batch(request: web.Request) -> web.Response:
    body = await read_json(request) if request.body_exists else None
    batch = await request.app[IMPORTS].create_batch(_tenant(request), body)
    return _with_location(batch, 201)


async def upload_file(request: web.Request) -> web.Response:
    batch = await request.app[IMPORTS].upload_file(
        _tenant(request),
        request.match_info["batch_id"],
        request.content_type,
        request.content.iter_chunked(_UPLOAD_READ_BYTES),
    )
    return _with_location(batch, 202)


async def add_resources(request: web.Request) -> web.Response:
    added = await request.app[IMPORTS].add_resources(_tenant(request), await read_json(request))
    return json_response(added, status=201)


async def change_state(request: web.Request) -> web.Response:
    return json_response(await request.app[IMPORTS].change_state(_tenant(request), request.query))


async def get_batch(request: web.Request) -> web.Response:
    batch = await request.app[IMPORTS].get(_tenant(request), request.match_info["batch_id"])
    return json_response(batch)


async def list_batches(request: web.Request) -> web.Response:
    return json_response(await request.app[IMPORTS].list(_tenant(request), request.query))


async def list_row_errors(request: web.Request) -> web.Response:
    page = await request.app[IMPORTS].row_errors(
        _tenant(request), request.match_info["batch_id"], request.query
    )
    return json_response(page)


async def upload_customers(request: web.Request) -> web.Response:
    body = await read_json(request)
    batch = await request.app[IMPORTS].upload_customers(_tenant(request), body)
    return _with_location(batch, 202)
