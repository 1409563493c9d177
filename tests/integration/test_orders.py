"""The orders feed over HTTP (API.md §11) against the real PostgreSQL: facts in, the computed
fields out, and everything they must not do."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.authz import DEFAULT_SCOPES, WRITE_ORDERS
from shared.settings import Settings

ORDERS = "/api/v2/order-events"
CUSTOMERS = "/api/v2/customers"
NOW = datetime.now(UTC)


def at(*, days: int) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def fact(ref: str, **fields) -> dict:
    return {
        "orderRef": ref,
        "orderName": f"#{ref}",
        "orderDate": (NOW - timedelta(days=10)).isoformat(),
        "total": "100.00",
        "currency": "EUR",
        "status": "placed",
        **fields,
    }


async def create(client, headers, **fields) -> dict:
    response = await client.post(CUSTOMERS, json=fields, headers=headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def post(client, headers, body) -> tuple[int, dict]:
    response = await client.post(ORDERS, json=body, headers=headers)
    return response.status, await response.json()


async def get(client, headers, customer_id: str) -> dict:
    response = await client.get(f"{CUSTOMERS}/{customer_id}", headers=headers)
    assert response.status == 200
    return await response.json()


async def test_posted_orders_give_every_computed_field_as_strings(
    customer_client, mint, unique_tenant
):
    """Placed orders count; refunds lower the spend; cancelled and test orders do not count;
    an order older than 365 days is outside the running 12-month spend."""
    headers = mint.headers(unique_tenant)
    customer = await create(customer_client, headers, email="buyer@example.com")
    first_date = NOW - timedelta(days=400)
    status, body = await post(
        customer_client,
        headers,
        [
            fact(
                "O-1", customerId=customer["id"], total="200.00", orderDate=first_date.isoformat()
            ),
            fact("O-2", email="BUYER@example.com", total="50.25", refundedAmount="10.25"),
            fact("O-3", customerId=customer["id"], status="cancelled", total="999.00"),
            fact("O-4", customerId=customer["id"], status="test", total="999.00"),
            # Either side of the window's start, in its partial first month or the one before.
            fact("O-5", customerId=customer["id"], total="7.00", orderDate=at(days=364)),
            fact("O-6", customerId=customer["id"], total="5.00", orderDate=at(days=366)),
        ],
    )
    assert status == 202
    assert body == {"accepted": 6}
    read = await get(customer_client, headers, customer["id"])
    assert read["totalOrders"] == "4"
    assert read["lifetimeOrderValue"] == "262.25"
    assert read["totalSpend"] == "252.00"
    assert read["running12monthSpend"] == "47.00"
    years = (NOW - first_date).total_seconds() / (365.2425 * 86400)
    assert read["averageSpendPerAnnum"] == f"{252 / years:.2f}"
    assert read["lastOrderRef"] == "O-2"
    assert read["lastOrderDate"].endswith("Z")
    # The collection's pages carry the same figures (read in their own statements).
    other = await create(customer_client, headers, email="browser@example.com")
    listed = await customer_client.get(CUSTOMERS, headers=headers)
    found = await customer_client.post(
        f"{CUSTOMERS}/search", json={"query": "buyer"}, headers=headers
    )
    assert listed.status == 200 and found.status == 200
    by_id = {c["id"]: c for c in (await listed.json())["results"]}
    assert by_id[customer["id"]] == read
    assert by_id[other["id"]]["totalOrders"] is None
    assert (await found.json())["results"] == [read]


async def test_a_customer_without_orders_shows_null_figures(customer_client, mint, unique_tenant):
    headers = mint.headers(unique_tenant)
    customer = await create(customer_client, headers, email="none@example.com")
    await post(customer_client, headers, fact("C-1", customerId=customer["id"], status="cancelled"))
    read = await get(customer_client, headers, customer["id"])
    for field in ("totalOrders", "totalSpend", "lifetimeOrderValue", "lastOrderRef"):
        assert read[field] is None


async def test_orders_never_move_last_modified_nor_emit_an_event(
    customer_client, mint, unique_tenant, test_settings: Settings
):
    headers = mint.headers(unique_tenant)
    customer = await create(customer_client, headers, email="quiet@example.com")
    await post(customer_client, headers, fact("Q-1", customerId=customer["id"]))
    read = await get(customer_client, headers, customer["id"])
    assert read["totalOrders"] == "1"
    assert read["lastModifiedDate"] == customer["lastModifiedDate"]
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        events = await conn.fetch(
            "SELECT routing_key FROM customer.outbox WHERE tenant_id = $1", unique_tenant
        )
    finally:
        await conn.close()
    assert [e["routing_key"] for e in events] == ["customer.created"]


async def test_the_latest_occurred_at_wins_and_a_duplicate_event_id_is_a_no_op(
    customer_client, mint, unique_tenant
):
    headers = mint.headers(unique_tenant)
    customer = await create(customer_client, headers, customerRef="R-1", email="r@example.com")
    t0 = NOW - timedelta(hours=3)
    event_id = str(uuid.uuid4())
    newer = fact("U-1", customerRef="R-1", total="30.00", occurredAt=t0.isoformat())
    await post(customer_client, headers, {**newer, "eventId": event_id})
    older = fact("U-1", customerRef="R-1", total="10.00")
    await post(
        customer_client, headers, {**older, "occurredAt": (t0 - timedelta(hours=1)).isoformat()}
    )
    assert (await get(customer_client, headers, customer["id"]))["totalSpend"] == "30.00"
    # The same event id again, even with a later time and another total, changes nothing.
    replay = fact("U-1", customerRef="R-1", total="99.00", occurredAt=NOW.isoformat())
    status, _ = await post(customer_client, headers, {**replay, "eventId": event_id})
    assert status == 202
    assert (await get(customer_client, headers, customer["id"]))["totalSpend"] == "30.00"
    latest = fact("U-1", customerRef="R-1", status="cancelled", occurredAt=NOW.isoformat())
    await post(customer_client, headers, latest)
    assert (await get(customer_client, headers, customer["id"]))["totalOrders"] is None


async def test_a_fact_for_an_unknown_customer_attaches_when_the_customer_is_created(
    customer_client, mint, unique_tenant
):
    headers = mint.headers(unique_tenant)
    await post(
        customer_client,
        headers,
        [fact("P-1", customerRef="LATER"), fact("P-2", email="Late@Example.com")],
    )
    by_ref = await create(customer_client, headers, customerRef="LATER", email="x@example.com")
    assert by_ref["totalOrders"] == "1"
    assert by_ref["lastOrderRef"] == "P-1"
    by_email = await create(customer_client, headers, email="late@example.com")
    assert (await get(customer_client, headers, by_email["id"]))["lastOrderRef"] == "P-2"


async def test_facts_waiting_for_a_new_ref_or_email_attach_when_an_update_gives_it(
    customer_client, mint, unique_tenant, test_settings: Settings
):
    """The update's one statement (write, event, attach) answers with the figures of the facts
    it attached, and its event names the customer's new customerRef."""
    headers = mint.headers(unique_tenant)
    customer = await create(customer_client, headers, customerRef="OLD", email="a@example.com")
    await post(
        customer_client,
        headers,
        [fact("W-1", customerRef="NEW", total="5.00"), fact("W-2", email="B@example.com")],
    )
    response = await customer_client.put(
        CUSTOMERS,
        json={"id": customer["id"], "customerRef": "NEW", "email": "b@example.com"},
        headers=headers,
    )
    assert response.status == 200, await response.text()
    updated = await response.json()
    assert updated["totalOrders"] == "2"
    assert (await get(customer_client, headers, customer["id"]))["totalOrders"] == "2"
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        events = await conn.fetch(
            "SELECT routing_key, payload FROM customer.outbox WHERE tenant_id = $1 ORDER BY id",
            unique_tenant,
        )
    finally:
        await conn.close()
    assert [e["routing_key"] for e in events] == ["customer.created", "customer.updated"]
    assert '"customerRef": "NEW"' in events[1]["payload"]


async def test_deleting_a_customer_deletes_its_order_facts(
    customer_client, mint, unique_tenant, test_settings: Settings
):
    headers = mint.headers(unique_tenant)
    customer = await create(customer_client, headers, email="gone@example.com")
    await post(customer_client, headers, fact("D-1", customerId=customer["id"]))
    deleted = await customer_client.delete(f"{CUSTOMERS}/{customer['id']}", headers=headers)
    assert deleted.status == 204
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM customer.order_facts WHERE tenant_id = $1) AS facts,"
            " (SELECT count(*) FROM customer.order_totals WHERE tenant_id = $1) AS totals",
            unique_tenant,
        )
    finally:
        await conn.close()
    assert dict(counts) == {"facts": 0, "totals": 0}


async def test_invalid_facts_are_refused_all_at_once_naming_each_field(
    customer_client, mint, unique_tenant
):
    headers = mint.headers(unique_tenant)
    status, problem = await post(
        customer_client,
        headers,
        [
            fact("V-1", email="ok@example.com"),
            fact("V-2", email="ok@example.com", total="-1.00", currency="XYZ"),
            {"orderRef": "V-3"},
        ],
    )
    assert status == 400
    errors = problem["errors"]
    assert set(errors) >= {"1.total", "1.currency", "2.total", "2.orderDate", "2.customerId"}
    assert "0.total" not in errors
    # Nothing of the valid fact was stored either.
    customer = await create(customer_client, headers, email="ok@example.com")
    assert customer["totalOrders"] is None


async def test_more_than_100_facts_is_a_400(customer_client, mint, unique_tenant):
    facts = [fact(f"M-{i}", customerRef="M") for i in range(101)]
    status, problem = await post(customer_client, mint.headers(unique_tenant), facts)
    assert status == 400
    assert "_body" in problem["errors"]


async def test_posting_orders_needs_the_orders_write_scope(customer_client, mint, unique_tenant):
    """A client with only the default scopes gets 403 naming orders:write."""
    headers = mint.headers(unique_tenant, scopes=DEFAULT_SCOPES)
    response = await customer_client.post(
        ORDERS, json=fact("S-1", customerRef="S"), headers=headers
    )
    assert response.status == 403
    assert WRITE_ORDERS in (await response.json())["detail"]


async def test_one_tenants_facts_never_reach_another_tenants_customer(
    customer_client, mint, unique_tenant
):
    mine = mint.headers(unique_tenant)
    other = mint.headers(unique_tenant + "o")
    customer = await create(customer_client, mine, email="iso@example.com", customerRef="ISO")
    await post(
        customer_client,
        other,
        [fact("T-1", customerId=customer["id"]), fact("T-2", customerRef="ISO")],
    )
    assert (await get(customer_client, mine, customer["id"]))["totalOrders"] is None


async def test_list_search_and_export_show_the_same_computed_fields_as_a_read(
    customer_client, mint, unique_tenant
):
    """Every v2 read carries the spend fields (§11): a list page, the query search and the
    data-subject export agree with GET /customers/{id}."""
    headers = mint.headers(unique_tenant)
    customer = await create(customer_client, headers, email="lister@example.com")
    await create(customer_client, headers, email="nobody@example.com")
    status, _ = await post(
        customer_client, headers, [fact("L-1", customerId=customer["id"], total="42.50")]
    )
    assert status == 202
    read = await get(customer_client, headers, customer["id"])
    assert read["totalOrders"] == "1"

    listed = await customer_client.get(CUSTOMERS, headers=headers)
    assert listed.status == 200
    by_id = {c["id"]: c for c in (await listed.json())["results"]}
    searched = await customer_client.post(
        f"{CUSTOMERS}/search", json={"query": "lister"}, headers=headers
    )
    assert searched.status == 200
    (found,) = (await searched.json())["results"]
    exported = await customer_client.get(f"{CUSTOMERS}/{customer['id']}/export", headers=headers)
    assert exported.status == 200
    spend_keys = ("totalOrders", "totalSpend", "lastOrderRef", "running12monthSpend")
    for view in (by_id[customer["id"]], found, (await exported.json())["customer"]):
        assert {k: view[k] for k in spend_keys} == {k: read[k] for k in spend_keys}
    other = next(c for c in by_id.values() if c["id"] != customer["id"])
    assert other["totalOrders"] is None
