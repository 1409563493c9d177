"""The orders feed end to end (API.md §11): an operator grants orders:write, facts go in over
HTTP through the gateway and onto RabbitMQ, and the customer read back through the gateway
shows the figures."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp

from shared.amqp import ORDER_EVENTS_EXCHANGE, ORDER_UPSERTED, Publisher
from tests.e2e.conftest import ROOT, Client, RunningSuite
from tests.support.waiting import eventually

API = "/services/customerservice/api/v2"


def create_orders_client(running_suite: RunningSuite, tenant: str) -> dict[str, str]:
    """`clients create --scopes orders:write`, as an operator grants the opt-in scope."""
    command = ["clients", "create", tenant, "--scopes", "orders:write"]
    result = subprocess.run(
        [sys.executable, "-m", "auth_service", *command],
        env=running_suite.env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return json.loads(result.stdout)


async def orders_client(running_suite: RunningSuite, http: aiohttp.ClientSession, tenant: str):
    """A second client of the tenant with only the opt-in scope orders:write."""
    credentials = create_orders_client(running_suite, tenant)
    async with http.post(
        f"{running_suite.base_url}/auth/realms/{tenant}/protocol/openid-connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
    ) as response:
        body = await response.json()
    assert body["scope"] == "orders:write"
    return {"Authorization": f"Bearer {body['access_token']}", "X-TWC-Tenant": tenant}


async def test_orders_posted_and_queued_show_up_on_the_customer(
    running_suite: RunningSuite, http: aiohttp.ClientSession, client: Client, test_settings
):
    base = running_suite.base_url + API
    async with http.post(
        f"{base}/customers/", json={"email": "e2e-buyer@example.com"}, headers=client.headers
    ) as response:
        assert response.status == 201
        customer = await response.json()
    day = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    fact = {"orderDate": day, "currency": "USD", "status": "placed", "customerId": customer["id"]}

    async with http.post(
        f"{base}/order-events", json={**fact, "orderRef": "E-1", "total": "12.00"},
        headers=client.headers,
    ) as refused:  # fmt: skip
        assert refused.status == 403  # the default client lacks orders:write
    feeder = await orders_client(running_suite, http, client.tenant)
    async with http.post(
        f"{base}/order-events", json=[{**fact, "orderRef": "E-1", "total": "12.00"}],
        headers=feeder,
    ) as accepted:  # fmt: skip
        assert accepted.status == 202
        assert await accepted.json() == {"accepted": 1}
    async with http.post(
        f"{base}/order-events", json=[{**fact, "orderRef": "E-2", "total": "-1"}], headers=feeder
    ) as invalid:
        assert invalid.status == 400
        assert "0.total" in (await invalid.json())["errors"]

    publisher = Publisher(test_settings.amqp_url)
    try:
        await publisher.publish(
            ORDER_EVENTS_EXCHANGE,
            ORDER_UPSERTED,
            {
                "eventId": str(uuid.uuid4()),
                "type": ORDER_UPSERTED,
                "tenant": client.tenant,
                "occurredAt": datetime.now(UTC).isoformat(),
                "order": {**fact, "orderRef": "E-3", "total": "8.50"},
            },
        )
    finally:
        await publisher.close()

    async def read() -> dict | None:
        async with http.get(f"{base}/customers/{customer['id']}", headers=client.headers) as got:
            body = await got.json()
        return body if body["totalOrders"] == "2" else None

    body = await eventually(read, timeout=30)
    assert body["totalSpend"] == "20.50"
    assert body["lifetimeOrderValue"] == "20.50"
    assert body["running12monthSpend"] == "20.50"
    assert body["lastModifiedDate"] == customer["lastModifiedDate"]
