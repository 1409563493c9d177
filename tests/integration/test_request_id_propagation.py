"""A request's id reaches impex_worker's log lines of the work it queued (API.md §1): through the
outbox row, then an AMQP header of the message. customer_service and the worker in-process, real
PostgreSQL and RabbitMQ."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from shared.amqp import (
    CUSTOMER_DELETED_QUEUE,
    CUSTOMER_EVENTS_EXCHANGE,
    IMPEX_BATCH_COMPLETED,
    IMPORTS_QUEUE,
    Publisher,
)
from shared.web import REQUEST_ID_HEADER
from tests.support.imports import ENDED
from tests.support.waiting import eventually

DEADLINE = 30.0
IMPORT = "/api/import"


async def _ended(client, headers, batch_id: str) -> dict:
    async def probe():
        response = await client.get(f"{IMPORT}/batch/{batch_id}", headers=headers)
        body = await response.json()
        return body if body["state"] in ENDED else None

    return await eventually(probe, timeout=DEADLINE)


def _worker_lines(logs: list[dict], batch_id: str) -> list[dict]:
    """The worker's lines of handling the batch's message."""
    return [e for e in logs if e.get("queue") == IMPORTS_QUEUE and e.get("batch_id") == batch_id]


async def _handled(logs: list[dict], batch_id: str) -> list[dict]:
    """The worker's lines of the batch's message, once its "message handled" line is there
    (it follows the batch's end, which the API shows first)."""

    async def probe() -> list[dict]:
        lines = _worker_lines(logs, batch_id)
        return lines if any(e["event"] == "message handled" for e in lines) else []

    return await eventually(probe, timeout=DEADLINE)


async def _request_id_of_event(database_url: str, tenant: str, routing_key: str) -> str | None:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(
            "SELECT request_id FROM customer.outbox WHERE tenant_id = $1 AND routing_key = $2",
            tenant,
            routing_key,
        )
    finally:
        await conn.close()


async def test_upload_customers_request_id_is_in_the_worker_logs(
    customer_client, worker, mint, unique_tenant, logs, test_settings
):
    """POST /upload-customers with X-Request-ID: the worker's "batch ended" and "message
    handled" lines carry it, and so does the impex.batch.completed it announces."""
    request_id = f"rid-upload-{uuid.uuid4().hex[:8]}"
    headers = {**mint.headers(unique_tenant), REQUEST_ID_HEADER: request_id}
    response = await customer_client.post(
        "/api/v2/upload-customers", json=[{"email": "rid1@example.com"}], headers=headers
    )
    assert response.status == 202
    batch_id = (await response.json())["id"]
    assert (await _ended(customer_client, headers, batch_id))["state"] == "COMPLETED"
    worker_lines = await _handled(logs, batch_id)
    assert {e["event"] for e in worker_lines} >= {"batch ended", "message handled"}
    assert all(e.get("request_id") == request_id for e in worker_lines), worker_lines
    assert (
        await _request_id_of_event(test_settings.database_url, unique_tenant, IMPEX_BATCH_COMPLETED)
        == request_id
    )
    assert not any("rid1@example.com" in repr(e) for e in worker_lines)


async def test_ready_request_id_is_in_the_worker_logs(
    customer_client, worker, mint, unique_tenant, logs
):
    """PUT state-change READY: the worker logs the id of the request that queued the batch,
    not the ids of the requests that created or filled it."""
    headers = mint.headers(unique_tenant)
    created = await customer_client.post(f"{IMPORT}/batch", headers=headers)
    batch_id = (await created.json())["id"]
    added = await customer_client.post(
        f"{IMPORT}/resource",
        json={"batchId": batch_id, "entityType": "customer", "customer": {"email": "r@x.com"}},
        headers=headers,
    )
    assert added.status == 201, await added.text()
    request_id = f"rid-ready-{uuid.uuid4().hex[:8]}"
    readied = await customer_client.put(
        f"{IMPORT}/batch/state-change",
        params={"batchId": batch_id, "state": "READY"},
        headers={**headers, REQUEST_ID_HEADER: request_id},
    )
    assert readied.status == 200
    assert (await _ended(customer_client, headers, batch_id))["state"] == "COMPLETED"
    worker_lines = await _handled(logs, batch_id)
    assert all(e.get("request_id") == request_id for e in worker_lines), worker_lines


@pytest.mark.parametrize(
    ("header", "expected"),
    [("rid-del-1", "rid-del-1"), ("not a request id!", None), ("x" * 129, None)],
)
async def test_consumer_binds_only_a_well_formed_request_id(
    worker, logs, unique_tenant, test_settings, header, expected
):
    """Anyone who may publish sets headers: a value that is not a request id (API.md §1) is not
    logged."""
    publisher = Publisher(test_settings.amqp_url)
    event_id = str(uuid.uuid4())
    event = {
        "eventId": event_id,
        "type": "customer.deleted",
        "tenant": unique_tenant,
        "occurredAt": "2024-05-19T03:48:22.075Z",
        "customer": {"id": str(uuid.uuid4()), "customerRef": None, "alternateCustomerRef": None},
    }
    try:
        await publisher.publish(
            CUSTOMER_EVENTS_EXCHANGE,
            "customer.deleted",
            event,
            message_id=event_id,
            headers={REQUEST_ID_HEADER: header},
        )
    finally:
        await publisher.close()

    async def handled() -> list[dict]:
        return [
            e
            for e in logs
            if e["event"] == "message handled"
            and e.get("queue") == CUSTOMER_DELETED_QUEUE
            and e.get("message_id") == event_id
        ]

    (line,) = await eventually(handled, timeout=DEADLINE)
    assert line["outcome"] == "processed"
    assert line.get("request_id") == expected


async def test_delete_request_id_is_in_the_de_identification_logs(
    customer_client, worker, mint, unique_tenant, logs, test_settings
):
    """DELETE with X-Request-ID: customer.deleted carries it, and the worker's lines of
    de-identifying that customer's wishlists do too."""
    created = await customer_client.post(
        "/api/v2/customers",
        json={"email": "rid-del@example.com"},
        headers=mint.headers(unique_tenant),
    )
    customer_id = (await created.json())["id"]
    request_id = f"rid-delete-{uuid.uuid4().hex[:8]}"
    headers = {**mint.headers(unique_tenant), REQUEST_ID_HEADER: request_id}
    assert (
        await customer_client.delete(f"/api/v2/customers/{customer_id}", headers=headers)
    ).status == 204
    assert (
        await _request_id_of_event(test_settings.database_url, unique_tenant, "customer.deleted")
        == request_id
    )

    async def handled() -> list[dict]:
        return [
            e for e in logs
            if e.get("queue") == CUSTOMER_DELETED_QUEUE and e["event"] == "message handled"
            and e.get("request_id") == request_id
        ]  # fmt: skip

    assert await eventually(handled, timeout=DEADLINE)
