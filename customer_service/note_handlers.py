"""HTTP in and out for customer notes."""

from __future__ import annotations

from aiohttp import web

from customer_service.app_keys import NOTES
from customer_service.service import identifier_in_query
from shared.authz import claims_of
from shared.web import json_response, read_json


async def create_note(request: web.Request) -> web.Response:
    body = await read_json(request)
    note = await request.app[NOTES].create(claims_of(request).tenant, body)
    return json_response(note, status=201)


async def update_note(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(await request.app[NOTES].update(claims_of(request).tenant, body))


async def get_note(request: web.Request) -> web.Response:
    note = await request.app[NOTES].get(claims_of(request).tenant, request.match_info["note_id"])
    return json_response(note)


async def delete_note(request: web.Request) -> web.Response:
    await request.app[NOTES].delete(claims_of(request).tenant, request.match_info["note_id"])
    return web.Response(status=204)


async def list_notes(request: web.Request) -> web.Response:
    notes = await request.app[NOTES].list_of_customer(
        claims_of(request).tenant, identifier_in_query(request.query)
    )
    return json_response(notes)


async def delete_notes(request: web.Request) -> web.Response:
    await request.app[NOTES].delete_of_customer(
        claims_of(request).tenant, identifier_in_query(request.query)
    )
    return web.Response(status=204)
