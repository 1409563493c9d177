"""HTTP in and out for the customer API: parse, call one use case, render."""

from __future__ import annotations

from aiohttp import web

from customer_service.app_keys import CUSTOMERS
from customer_service.etags import customer_response, if_match
from customer_service.service import Identifier, identifier_in_body, identifier_in_query
from shared.authz import claims_of
from shared.web import json_response, read_json


def _tenant(request: web.Request) -> str:
    return claims_of(request).tenant


def _path_identifier(request: web.Request) -> Identifier:
    """The identifier a route names: its kind is the match_info key."""
    (kind, value), *_ = request.match_info.items()
    return Identifier(kind, value)


async def create_customer(request: web.Request) -> web.Response:
    body = await read_json(request)
    customer = await request.app[CUSTOMERS].create(_tenant(request), body)
    return customer_response(request, customer, status=201)


async def validate_customer(request: web.Request) -> web.Response:
    return json_response(await request.app[CUSTOMERS].validate(await read_json(request)))


async def get_customer(request: web.Request) -> web.Response:
    customer = await request.app[CUSTOMERS].get(_tenant(request), _path_identifier(request))
    return customer_response(request, customer)


async def search_customers(request: web.Request) -> web.Response:
    return json_response(await request.app[CUSTOMERS].search(_tenant(request), request.query))


async def update_customer_from_body(request: web.Request) -> web.Response:
    body = await read_json(request)
    customer = await request.app[CUSTOMERS].update(
        _tenant(request), identifier_in_body(body), body, if_match=if_match(request)
    )
    return customer_response(request, customer)


async def update_customer(request: web.Request) -> web.Response:
    body = await read_json(request)
    customer = await request.app[CUSTOMERS].update(
        _tenant(request), _path_identifier(request), body, if_match=if_match(request)
    )
    return customer_response(request, customer)


async def add_address(request: web.Request) -> web.Response:
    body = await read_json(request)
    customer = await request.app[CUSTOMERS].add_address(
        _tenant(request), request.match_info["id"], body
    )
    return customer_response(request, customer)


async def delete_address(request: web.Request) -> web.Response:
    customer = await request.app[CUSTOMERS].delete_address(
        _tenant(request),
        request.match_info["id"],
        request.match_info["address_id"],
        if_match=if_match(request),
    )
    return customer_response(request, customer)


async def delete_customer(request: web.Request) -> web.Response:
    await request.app[CUSTOMERS].delete(
        _tenant(request), _path_identifier(request), if_match=if_match(request)
    )
    return web.Response(status=204)


async def delete_customer_by_query(request: web.Request) -> web.Response:
    await request.app[CUSTOMERS].delete(
        _tenant(request), identifier_in_query(request.query), if_match=if_match(request)
    )
    return web.Response(status=204)
