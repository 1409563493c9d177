"""NUL characters, which PostgreSQL text cannot store, are a 400 naming where they are, whether
they come in a JSON body, the path or the query string (found by Schemathesis as 500s)."""

from __future__ import annotations

import pytest
from aiohttp import web

from shared.app_keys import METRICS
from shared.metrics import ServiceMetrics
from shared.web import base_middlewares, json_response, read_json


class _UnstorableText(Exception):
    sqlstate = "22021"  # what asyncpg raises for a NUL sent as text


async def _echo(request: web.Request) -> web.Response:
    return json_response(await read_json(request))


async def _lookup(request: web.Request) -> web.Response:
    return json_response({"ref": request.match_info["ref"], **request.query})


async def _database_refuses(_request: web.Request) -> web.Response:
    raise _UnstorableText("invalid byte sequence for encoding UTF8: 0x00")


@pytest.fixture
async def client(aiohttp_client):
    app = web.Application(middlewares=base_middlewares())
    app[METRICS] = ServiceMetrics()
    app.router.add_post("/echo", _echo)
    app.router.add_get("/customers/{ref}/ref", _lookup)
    app.router.add_get("/refuses", _database_refuses)
    return await aiohttp_client(app)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"note": "a\\u0000b"}', "note"),
        (b'{"addresses": [{"city": "x"}, {"city": "\\u0000"}]}', "addresses.1.city"),
        (b'{"attributeGroups": {"g\\u0000": {}}}', "attributeGroups.g\\u0000"),
        (b'"\\u0000"', "_body"),
    ],
)
async def test_nul_in_a_json_body_is_a_400_naming_the_field(client, body, field):
    response = await client.post("/echo", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    problem = await response.json()
    assert list(problem["errors"]) == [field]


async def test_an_escaped_backslash_before_u0000_is_not_a_nul(client):
    body = b'{"note": "C:\\\\u0000"}'  # the text C:\u0000, six characters after the colon
    response = await client.post("/echo", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 200
    assert await response.json() == {"note": "C:\\u0000"}


async def test_nul_in_the_path_or_query_is_a_400(client):
    in_path = await client.get("/customers/a%00b/ref")
    assert in_path.status == 400
    assert list((await in_path.json())["errors"]) == ["_path"]
    in_query = await client.get("/customers/a/ref?mobile=1&email=x%00y")
    assert in_query.status == 400
    assert list((await in_query.json())["errors"]) == ["email"]
    clean = await client.get("/customers/a%2Fb/ref?email=x%40y")
    assert (clean.status, await clean.json()) == (200, {"ref": "a/b", "email": "x@y"})


async def test_text_the_database_cannot_store_is_a_400_not_a_500(client):
    response = await client.get("/refuses")
    assert response.status == 400
    assert response.content_type == "application/problem+json"
