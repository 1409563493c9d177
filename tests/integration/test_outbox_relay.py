"""The outbox relay publishes committed changes to RabbitMQ, once each, ids only."""

from __future__ import annotations

import uuid

import asyncpg
import orjson

from tests.support.events import events_of


async def test_create_and_delete_publish_events_without_personal_data(
    customer_client, mint, unique_tenant, events_queue
):
    """customer.created then customer.deleted arrive with ids only."""
    headers = mint.headers(unique_tenant)
    created = await customer_client.post(
        "/api/v2/customers",
        json={"email": "evt@example.com", "customerRef": "E-1", "firstName": "Eve"},
        headers=headers,
    )
    customer_id = (await created.json())["id"]
    await customer_client.delete(f"/api/v2/customers/{customer_id}", headers=headers)
    events = await events_of(events_queue, unique_tenant, 2)
    assert [e["type"] for e in events] == ["customer.created", "customer.deleted"]
    for event in events:
        uuid.UUID(event["eventId"])
        assert event["customer"] == {
            "id": customer_id,
            "customerRef": "E-1",
            "alternateCustomerRef": None,
        }
        assert set(event) == {"eventId", "type", "tenant", "occurredAt", "customer"}
        assert b"evt@example.com" not in orjson.dumps(event)
    assert events[0]["eventId"] != events[1]["eventId"]


async def test_failed_change_writes_no_event(customer_client, mint, unique_tenant, test_settings):
    """A rejected create (409) leaves no outbox row: events exist only for committed changes."""
    headers = mint.headers(unique_tenant)
    await customer_client.post(
        "/api/v2/customers", json={"email": "o@example.com"}, headers=headers
    )
    conflict = await customer_client.post(
        "/api/v2/customers", json={"email": "o@example.com"}, headers=headers
    )
    assert conflict.status == 409
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM customer.outbox WHERE tenant_id = $1", unique_tenant
        )
    finally:
        await conn.close()
    assert count == 1
