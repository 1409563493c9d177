"""HTTP in and out for shopper accounts: the tenant from the verified bearer token, the shopper's
session from the `AccessToken` header (never from `Authorization`)."""

from __future__ import annotations

from aiohttp import web

from customer_service.shoppers.app_keys import SHOPPERS
from shared.authz import claims_of
from shared.web import json_response, read_json

ACCESS_TOKEN_HEADER = "AccessToken"
OTP_TOKEN_HEADER = "otptoken"
_NO_CONTENT = 204


def _tenant(request: web.Request) -> str:
    return claims_of(request).tenant


def _session(request: web.Request) -> str | None:
    return request.headers.get(ACCESS_TOKEN_HEADER)


async def register(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(await request.app[SHOPPERS].register(_tenant(request), body), status=201)


async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(await request.app[SHOPPERS].login(_tenant(request), body))


async def request_otp(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(
        await request.app[SHOPPERS].request_otp(_tenant(request), body), status=202
    )


async def login_with_otp(request: web.Request) -> web.Response:
    body = await read_json(request)
    challenge = request.headers.get(OTP_TOKEN_HEADER)
    return json_response(
        await request.app[SHOPPERS].login_with_otp(_tenant(request), challenge, body)
    )


async def logout(request: web.Request) -> web.Response:
    await request.app[SHOPPERS].logout(_tenant(request), _session(request))
    return web.Response(status=_NO_CONTENT)


async def session(request: web.Request) -> web.Response:
    return json_response(await request.app[SHOPPERS].session(_tenant(request), _session(request)))


async def get_me(request: web.Request) -> web.Response:
    return json_response(await request.app[SHOPPERS].me(_tenant(request), _session(request)))


async def update_me(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(
        await request.app[SHOPPERS].update_me(_tenant(request), _session(request), body)
    )


async def change_password(request: web.Request) -> web.Response:
    body = await read_json(request)
    await request.app[SHOPPERS].change_password(_tenant(request), _session(request), body)
    return web.Response(status=_NO_CONTENT)


async def list_addresses(request: web.Request) -> web.Response:
    return json_response(
        await request.app[SHOPPERS].my_addresses(_tenant(request), _session(request))
    )


async def add_address(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(
        await request.app[SHOPPERS].add_my_address(_tenant(request), _session(request), body)
    )


async def update_address(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(
        await request.app[SHOPPERS].update_my_address(
            _tenant(request), _session(request), request.match_info["address_id"], body
        )
    )


async def delete_address(request: web.Request) -> web.Response:
    return json_response(
        await request.app[SHOPPERS].delete_my_address(
            _tenant(request), _session(request), request.match_info["address_id"]
        )
    )


async def reset_password(request: web.Request) -> web.Response:
    body = await read_json(request)
    await request.app[SHOPPERS].reset_password(
        _tenant(request), request.match_info["customer_id"], body
    )
    return web.Response(status=_NO_CONTENT)


async def end_sessions(request: web.Request) -> web.Response:
    await request.app[SHOPPERS].end_sessions(_tenant(request), request.match_info["customer_id"])
    return web.Response(status=_NO_CONTENT)
