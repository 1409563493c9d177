"""Every service's /metrics (the gateway's on its admin port): its own registry with the names
operators alert on, real samples that move with the traffic each service handled, and labels
without ids or emails."""

from __future__ import annotations

import pytest

from deploy.local.suite import SERVICES
from shared.amqp import CUSTOMER_DELETED
from tests.support.metrics import declared, has_sample, sample_total, scrape
from tests.support.waiting import eventually

API = "/services/customerservice/api/v2"
EVERY_SERVICE = (
    "http_requests_total",
    "http_request_duration_seconds",
    "http_requests_in_flight",
    "tokens_refused_total",
    "process_resident_memory_bytes",
    "python_info",
)
# What each service declares beside EVERY_SERVICE; no other service declares these.
OWN = {
    "gateway": ("rate_limited_requests_total",),
    "customer_service": (
        "outbox_backlog_events",
        "outbox_oldest_unsent_age_seconds",
        "outbox_events_published_total",
        "outbox_parked_events",
        "import_uploads_in_progress",
        "shopper_logins_total",
    ),
    "auth_service": ("tokens_issued_total",),
    "impex_worker": (
        "messages_consumed_total",
        "messages_redelivered_total",
        "import_rows_total",
        "import_batches_finished_total",
        "impex_drops_refused_total",
    ),
}
# Services whose DB_POOL (the customer database) is sampled at each scrape: all but the gateway.
WITH_POOL = ("customer_service", "auth_service", "impex_worker")
POOL = ("db_pool_connections", "db_pool_in_use_connections", "db_pool_max_connections")


async def _metrics(running_suite, http, service: str) -> str:
    """The /metrics of every process of `service` (one per replica), one after the other: a
    sample total is the service's, whichever replica counted."""
    return "".join(
        [await scrape(http, f"{url}/metrics") for url in running_suite.admin_urls(service)]
    )


@pytest.mark.parametrize("service", SERVICES)
async def test_every_service_exposes_its_own_registry(running_suite, http, service):
    """Each service declares the common families and its own, and none of another's."""
    declared_here = declared(await _metrics(running_suite, http, service))
    expected = {*EVERY_SERVICE, *OWN[service], *(POOL if service != "gateway" else ())}
    assert expected <= declared_here, f"{service} lacks {expected - declared_here}"
    others = {name for other, names in OWN.items() if other != service for name in names}
    assert not others & declared_here, f"{service} declares {others & declared_here}"


async def test_each_service_counts_the_requests_it_handled(running_suite, http, client):
    """One call through the gateway moves the gateway's counter under the public route
    template and customer_service's under its own route; the token the `client` fixture
    fetched is in auth_service's. The email in the path and the tenant appear in no label."""
    email = "metrics.person@example.com"
    gateway_route = {"method": "GET", "route": f"{API}/customers/{{email}}/email", "status": "404"}
    service_route = {"method": "GET", "route": "/api/v2/customers/{email}/email", "status": "404"}
    before = {service: await _metrics(running_suite, http, service) for service in SERVICES}

    async with http.get(f"{running_suite.base_url}{API}/customers/{email}/email",
                        headers=client.headers) as response:  # fmt: skip
        assert response.status == 404

    after = {service: await _metrics(running_suite, http, service) for service in SERVICES}

    def moved(service: str, name: str, **labels: str) -> float:
        return sample_total(after[service], name, **labels) - sample_total(
            before[service], name, **labels
        )

    assert moved("gateway", "http_requests_total", **gateway_route) == 1
    assert moved("customer_service", "http_requests_total", **service_route) == 1
    latency = {"method": "GET", "route": gateway_route["route"]}
    assert has_sample(after["gateway"], "http_request_duration_seconds_count", **latency)
    # Each registry holds only its own service's traffic.
    for service in ("gateway", "auth_service", "impex_worker"):
        assert not has_sample(after[service], "http_requests_total", **service_route), service
    for service in ("customer_service", "auth_service", "impex_worker"):
        assert not has_sample(after[service], "http_requests_total", **gateway_route), service
    token_route = {
        "method": "POST",
        "route": "/auth/realms/{tenant}/protocol/openid-connect/token",
        "status": "200",
    }
    assert sample_total(after["auth_service"], "http_requests_total", **token_route) >= 1
    assert sample_total(after["auth_service"], "tokens_issued_total") >= 1
    for service in WITH_POOL:
        assert sample_total(after[service], "db_pool_max_connections") >= 1, service
    for service, text in after.items():
        assert email not in text and client.tenant not in text, service


async def test_a_deletion_moves_the_outbox_and_consumer_counters(running_suite, http, client):
    """A deleted customer's event is published by customer_service (counted there) and
    consumed by impex_worker (counted there)."""
    published = {"type": CUSTOMER_DELETED}
    processed = {"outcome": "processed"}
    customers_before = await _metrics(running_suite, http, "customer_service")
    worker_before = await _metrics(running_suite, http, "impex_worker")
    base = f"{running_suite.base_url}{API}/customers"
    async with http.post(
        base,
        json={"email": "metrics.gone@example.com", "customerRef": "M-GONE"},
        headers=client.headers,
    ) as response:
        assert response.status == 201
        customer_id = (await response.json())["id"]
    async with http.delete(f"{base}/{customer_id}", headers=client.headers) as response:
        assert response.status == 204

    async def counted() -> bool:
        customers = await _metrics(running_suite, http, "customer_service")
        worker = await _metrics(running_suite, http, "impex_worker")
        return sample_total(customers, "outbox_events_published_total", **published) > sample_total(
            customers_before, "outbox_events_published_total", **published
        ) and (
            sample_total(worker, "messages_consumed_total", **processed)
            > sample_total(worker_before, "messages_consumed_total", **processed)
        )

    await eventually(counted, timeout=30)
