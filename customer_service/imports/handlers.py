"""HTTP in and out for the import API: parse, call one use case, render."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from customer_service.app_keys import IMPORTS, UPLOAD_SLOTS
from customer_service.imports.service import MAX_FILE_BYTES
from customer_service.imports.uploads import spooled
from shared.app_keys import SETTINGS
from shared.authz import claims_of
from shared.db import separate_transactions
from shared.imports.representation import batch_location
from shared.web import json_response, read_json, read_optional_json


def _tenant(request: web.Request) -> str:
    return claims_of(request).tenant


def _with_location(batch: dict[str, Any], status: int) -> web.Response:
    return json_response(batch, status=status, headers={"Location": batch_location(batch["id"])})


async def create_batch(request: web.Request) -> web.Response:
    body = await read_optional_json(request)
    batch = await request.app[IMPORTS].create_batch(_tenant(request), body)
    return _with_location(batch, 201)


async def upload_file(request: web.Request) -> web.Response:
    """Checked, then received whole (spooled), and only then stored: see `imports.uploads`."""
    tenant, batch_id, media_type = (
        _tenant(request),
        request.match_info["batch_id"],
        request.content_type,
    )
    imports = request.app[IMPORTS]
    with request.app[UPLOAD_SLOTS].hold(tenant):
        with separate_transactions():  # no connection held while the body arrives
            await imports.check_upload(tenant, batch_id, media_type)
        async with spooled(
            request.content,
            idle_timeout=request.app[SETTINGS].upload_read_timeout_seconds,
            limit=MAX_FILE_BYTES,
        ) as body:
            batch = await imports.upload_file(tenant, batch_id, media_type, body.pieces())
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
