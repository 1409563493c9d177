"""What the gateway's public port shows, in the running suite: probes with a status only, no
/metrics, no path that climbs out of a prefix; its metrics are on the admin port."""

from __future__ import annotations

import orjson

from deploy.local.suite import admin_port, service_port
from tests.support.raw_http import raw_get

API = "/services/customerservice/api/v2"


async def test_public_port_hides_metrics_and_dependencies(running_suite, http, client):
    public = f"http://127.0.0.1:{service_port(running_suite.env, 'gateway')}"
    admin = f"http://127.0.0.1:{admin_port(running_suite.env, 'gateway')}"
    async with http.get(f"{public}/metrics") as response:
        assert response.status == 404
        assert response.content_type == "application/problem+json"
    async with http.get(f"{public}/readyz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ready"}
    async with http.get(f"{public}/healthz") as response:
        assert await response.json() == {"status": "ok"}
    async with http.get(f"{public}{API}/customers/nobody", headers=client.headers) as response:
        assert response.status == 404
    async with http.get(f"{admin}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert "rate_limited_requests_total" in text
    assert f'route="{API}/customers/{{id}}",status="404"' in text
    async with http.get(f"{admin}/readyz") as response:
        assert response.status == 200


async def test_dot_segments_never_reach_a_service(running_suite, client):
    """The paths that would reach a service's /metrics (auth_service's without a token) are
    400 at the gateway."""
    port = service_port(running_suite.env, "gateway")
    for target in (
        "/auth/%2e%2e/metrics",
        "/auth/realms/x/../../../metrics",
        f"{API}/%2E%2e/%2e%2e/metrics",
        f"{API}/%252e%252e/%252e%252e/readyz",
        "/services/impex/api/import/..%2f..%2fapi/v2/customers",
    ):
        status, headers, body = await raw_get(port, target, client.headers)
        assert status == 400, (target, body)
        assert headers["content-type"] == "application/problem+json"
        assert b"# HELP" not in body
        assert "_path" in orjson.loads(body)["errors"]
