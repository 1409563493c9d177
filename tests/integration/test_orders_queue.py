"""Order facts straight onto RabbitMQ (API.md §11): impex_worker applies them, dead-letters
poison without blocking the queue, and an import chunk attaches facts that waited for its
customers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from customer_service.imports.service import ImportService
from customer_service.service import CustomerService, Identifier
from customer_service.v1.service import V1CustomerService
from impex_worker.imports.runner import BatchRunner
from impex_worker.imports.validation import Validator
from shared.amqp import (
    CUSTOMERS_IMPORT,
    DEAD_LETTER_QUEUE,
    IMPEX_EXCHANGE,
    ORDER_EVENTS_EXCHANGE,
    ORDER_UPSERTED,
    ORDERS_QUEUE,
    Publisher,
)
from shared.errors import NotFound
from tests.support.waiting import eventually

DEADLINE = 30.0


def order_event(tenant: str, ref: str, **order) -> dict:
    return {
        "eventId": str(uuid.uuid4()),
        "type": ORDER_UPSERTED,
        "tenant": tenant,
        "occurredAt": datetime.now(UTC).isoformat(),
        "order": {
            "orderRef": ref,
            "orderDate": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
            "total": "25.00",
            "currency": "GBP",
            "status": "placed",
            **order,
        },
    }


async def publish(publisher: Publisher, event: dict) -> None:
    await publisher.publish(
        ORDER_EVENTS_EXCHANGE, ORDER_UPSERTED, event, message_id=event["eventId"]
    )


def figures_of(pool: asyncpg.Pool, tenant: str, ref: str):
    service = CustomerService(pool)

    async def probe() -> dict | None:
        try:
            customer = await service.get(tenant, Identifier("customerRef", ref))
        except NotFound:
            return None
        return customer if customer["totalOrders"] is not None else None

    return probe


async def take_dead_letter(channel, message_id: str):
    queue = await channel.get_queue(DEAD_LETTER_QUEUE)
    while (message := await queue.get(no_ack=False, fail=False)) is not None:
        if message.message_id == message_id:
            await message.ack()
            return message
    return None


async def test_a_fact_on_the_queue_waits_for_its_customer_and_attaches_on_import(
    worker, publisher, pool, known_tenant
):
    """The fact arrives before the customer; the import chunk that creates the customer
    attaches it; a redelivered copy of the same event changes nothing."""
    event = order_event(known_tenant, "Q-ORDER-1", customerRef="Q-CUST", total="40.00")
    await publish(publisher, event)
    await publish(publisher, event)  # the same eventId twice
    async with pool.acquire() as conn:
        await eventually(
            lambda: conn.fetchval(
                "SELECT count(*) FROM customer.order_events_seen WHERE tenant_id = $1",
                known_tenant,
            ),
            timeout=DEADLINE,
        )
    records = [{"customerRef": "Q-CUST", "email": "q-cust@example.com"}]
    await publisher.publish(
        IMPEX_EXCHANGE,
        CUSTOMERS_IMPORT,
        {"tenant": known_tenant, "batchRef": "with-orders", "records": records},
    )
    customer = await eventually(figures_of(pool, known_tenant, "Q-CUST"), timeout=DEADLINE)
    assert customer["totalOrders"] == "1"
    assert customer["totalSpend"] == "40.00"
    assert customer["lastOrderRef"] == "Q-ORDER-1"


async def test_a_poison_order_is_dead_lettered_with_its_reason_and_the_next_one_applied(
    worker, publisher, pool, amqp_channel, logs, known_tenant
):
    service = CustomerService(pool)
    await service.create(known_tenant, {"email": "p@example.com", "customerRef": "P-CUST"})
    poison = order_event(known_tenant, "BAD", customerRef="P-CUST", total="-5", currency="ZZZ")
    await publish(publisher, poison)
    await publish(publisher, order_event(known_tenant, "GOOD", customerRef="P-CUST"))

    customer = await eventually(figures_of(pool, known_tenant, "P-CUST"), timeout=DEADLINE)
    assert customer["lastOrderRef"] == "GOOD"
    dead = await eventually(
        lambda: take_dead_letter(amqp_channel, poison["eventId"]), timeout=DEADLINE
    )
    assert dead.headers["x-first-death-queue"] == ORDERS_QUEUE
    assert dead.headers["x-first-death-reason"] == "rejected"
    [line] = [
        entry
        for entry in logs
        if entry["event"] == "message handled" and entry.get("message_id") == poison["eventId"]
    ]
    assert line["outcome"] == "poison"
    assert "order.total" in line["reason"] and "order.currency" in line["reason"]
    assert "p@example.com" not in line["reason"]


async def test_a_v1_upload_imports_the_v1_only_fields_too(pool, known_tenant, tmp_path):
    """tags, note and multipass_identifier of a v1 upload reach the stored customer through the
    import runner, which checks them again (API.md §12); a bad one is that row's error."""
    imports = ImportService(pool)
    v1 = V1CustomerService(CustomerService(pool), imports)
    uploaded = await v1.upload(
        known_tenant, [{"id": 31, "email": "v1-up@example.com", "tags": "a, b,a", "note": "hi"}]
    )
    # The same key sent by anyone else is checked like v1's own fields: a row error.
    forged = await imports.upload_customers(
        known_tenant,
        [{"customerRef": "32", "email": "v1-bad@example.com", "twcV1Fields": {"note": 5}}],
    )
    validator = Validator()
    try:
        runner = BatchRunner(pool, drop_dir=str(tmp_path), validator=validator)
        for batch in (uploaded, forged):
            assert await runner.run(known_tenant, uuid.UUID(batch["id"])) == "COMPLETED"
    finally:
        validator.close()
    customer = await v1.get(known_tenant, "31")
    assert customer["tags"] == "a, b"
    assert customer["note"] == "hi"
    with pytest.raises(NotFound):
        await v1.get(known_tenant, "32")
