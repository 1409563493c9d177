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
from tests.e2e.conftest import ROOT, Client, RunningSuite, fetch_token
from tests.support.shoppers import Storefront
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
    body = await fetch_token(running_suite, http, credentials)
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


async def test_a_new_user_sees_the_same_figures_through_v1_and_v2(
    running_suite: RunningSuite, http: aiohttp.ClientSession, client: Client
):
    """Issue 15's 'done when': create through v1, post a few orders, read back both ways."""
    services = running_suite.base_url + "/services/customerservice"
    async with http.post(
        f"{services}/api/customers",
        json={"id": 1001, "email": "v1-e2e@example.com", "tags": "vip", "phone": "+1 415 555 0100"},
        headers=client.headers,
    ) as created:
        assert created.status == 201, await created.text()
        v1 = await created.json()
    assert v1["state"] == "disabled" and v1["phone"] == "+14155550100"
    feeder = await orders_client(running_suite, http, client.tenant)
    day = (datetime.now(UTC) - timedelta(days=5)).isoformat()
    facts = [
        {"orderRef": f"N-{n}", "orderName": f"#{n}", "customerRef": "1001", "orderDate": day,
         "total": total, "currency": "EUR", "status": "placed"}
        for n, total in ((1, "10.10"), (2, "20.20"), (3, "30.30"))
    ]  # fmt: skip
    async with http.post(f"{services}/api/v2/order-events", json=facts, headers=feeder) as posted:
        assert posted.status == 202
    async with http.get(f"{services}/api/customers/1001", headers=client.headers) as got:
        v1 = await got.json()
    async with http.get(f"{services}/api/v2/customers/1001/ref", headers=client.headers) as got:
        v2 = await got.json()
    assert (v1["orders_count"], v1["total_spent"]) == (3, 60.6)
    assert (v2["totalOrders"], v2["totalSpend"]) == ("3", "60.60")
    assert v1["last_order_id"] == v2["lastOrderRef"]
    assert "tags" not in v2
    async with http.delete(f"{services}/api/customers/1001", headers=client.headers) as deleted:
        assert deleted.status == 204
    async with http.get(f"{services}/api/v2/customers/1001/ref", headers=client.headers) as gone:
        assert gone.status == 404


async def test_the_export_holds_the_orders_and_the_shopper_account(
    running_suite: RunningSuite, http: aiohttp.ClientSession, unique_tenant: str, test_settings
):
    """A storefront registers and logs a shopper in, orders arrive over HTTP and on the queue,
    and the data-subject export through the gateway holds both facts and the account's
    metadata, without the session token (API.md §9)."""
    scopes = "customers:read customers:write shoppers:auth orders:write"
    credentials = running_suite.provision(unique_tenant, scopes=scopes)
    token = await fetch_token(running_suite, http, credentials)
    headers = {"Authorization": f"Bearer {token['access_token']}", "X-TWC-Tenant": unique_tenant}
    store = Storefront(
        http, None, unique_tenant, prefix=f"{running_suite.base_url}/services/customerservice"
    )
    store.bearer = token["access_token"]
    customer = await store.register("export-e2e@example.com")
    session = await store.login("export-e2e@example.com")
    base = running_suite.base_url + API
    day = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
    fact = {"orderDate": day.isoformat(), "currency": "GBP", "status": "placed"}
    async with http.post(
        f"{base}/order-events",
        json={**fact, "orderRef": "X-1", "total": "5.00", "email": "EXPORT-E2E@example.com"},
        headers=headers,
    ) as accepted:
        assert accepted.status == 202
    publisher = Publisher(test_settings.amqp_url)
    try:
        await publisher.publish(
            ORDER_EVENTS_EXCHANGE,
            ORDER_UPSERTED,
            {
                "eventId": "export-e2e-queued",
                "type": ORDER_UPSERTED,
                "tenant": unique_tenant,
                "occurredAt": datetime.now(UTC).isoformat(),
                "order": {**fact, "orderRef": "X-2", "total": "7.25", "customerId": customer["id"]},
            },
        )
    finally:
        await publisher.close()

    async def export() -> tuple[dict, bytes] | None:
        async with http.get(f"{base}/customers/{customer['id']}/export", headers=headers) as got:
            assert got.status == 200
            raw = await got.read()
        document = json.loads(raw)
        return (document, raw) if len(document["orders"]) == 2 else None

    document, raw = await eventually(export, timeout=30)
    assert [(o["orderRef"], o["total"], o["currency"]) for o in document["orders"]] == [
        ("X-1", "5.00", "GBP"),
        ("X-2", "7.25", "GBP"),
    ]
    assert document["orders"][1]["eventId"] == "export-e2e-queued"
    assert document["customer"]["totalSpend"] == "12.25"
    account = document["account"]
    assert account["username"] == "export-e2e@example.com"
    assert len(account["sessions"]) == 1
    assert session.encode() not in raw and b"argon2" not in raw
