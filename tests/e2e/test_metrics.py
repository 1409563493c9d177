"""Every service's /metrics (the gateway's on its admin port): the names operators alert on, and
labels without ids or emails."""

from __future__ import annotations

import re

import pytest

from deploy.local.suite import SERVICES, admin_port

API = "/services/customerservice/api/v2"
EVERY_SERVICE = (
    "http_requests_total",
    "http_request_duration_seconds",
    "http_requests_in_flight",
)
BY_SERVICE = {
    "gateway": ("rate_limited_requests_total", "tokens_refused_total"),
    "customer_service": (
        "db_pool_connections",
        "db_pool_in_use_connections",
        "db_pool_max_connections",
        "outbox_backlog_events",
        "outbox_oldest_unsent_age_seconds",
        "outbox_events_published_total",
        "tokens_refused_total",
    ),
    "auth_service": (
        "db_pool_in_use_connections",
        "tokens_issued_total",
        "tokens_refused_total",
    ),
    "impex_worker": (
        "db_pool_in_use_connections",
        "messages_consumed_total",
        "messages_redelivered_total",
        "import_rows_total",
        "import_batches_finished_total",
    ),
}


async def _metrics(running_suite, http, service: str) -> str:
    url = f"http://127.0.0.1:{admin_port(running_suite.env, service)}/metrics"
    async with http.get(url) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        return await response.text()


@pytest.mark.parametrize("service", SERVICES)
async def test_every_service_exposes_its_metrics(running_suite, http, service):
    """Each service's /metrics declares the shared HTTP metrics and its own."""
    text = await _metrics(running_suite, http, service)
    declared = set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    for name in (*EVERY_SERVICE, *BY_SERVICE[service]):
        assert name in declared, f"{service} lacks {name}"


async def test_gateway_counts_requests_by_public_route_template(running_suite, http, client):
    """A proxied call is counted under its public route template; the email in its path and
    the tenant never appear in any label."""
    email = "metrics.person@example.com"
    async with http.get(f"{running_suite.base_url}{API}/customers/{email}/email",
                        headers=client.headers) as response:  # fmt: skip
        assert response.status == 404
    text = await _metrics(running_suite, http, "gateway")
    assert (
        f'http_requests_total{{method="GET",route="{API}/customers/{{email}}/email",status="404"}}'
    ) in text
    for service in SERVICES:
        text = await _metrics(running_suite, http, service)
        assert email not in text and client.tenant not in text
