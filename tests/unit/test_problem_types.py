"""aiohttp's own 404/405 answer with the same problem types as the domain errors do."""

from __future__ import annotations

from aiohttp import web

from shared.app_keys import METRICS
from shared.metrics import ServiceMetrics
from shared.web import base_middlewares, json_response


async def _ok(_request: web.Request) -> web.Response:
    return json_response({})


async def test_unknown_route_and_wrong_method_use_the_domain_problem_types(aiohttp_client):
    app = web.Application(middlewares=base_middlewares())
    app[METRICS] = ServiceMetrics()
    app.router.add_get("/things", _ok)
    client = await aiohttp_client(app)

    missing = await client.get("/nothing")
    assert missing.status == 404
    assert (await missing.json())["type"] == "urn:customer-suite:problem:not-found"
    wrong_method = await client.delete("/things")
    assert wrong_method.status == 405
    assert (await wrong_method.json())["type"] == "urn:customer-suite:problem:method-not-allowed"
    assert set(wrong_method.headers["Allow"].split(",")) == {"GET", "HEAD"}
