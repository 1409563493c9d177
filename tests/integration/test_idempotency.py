"""Idempotency-Key on the POSTs of customer_service (API.md §6), against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import orjson
import pytest

from customer_service import idempotency
from customer_service.retention import RetentionSweeper
from customer_service.service import CustomerService
from shared.timefmt import utcnow

API = "/api/v2"


@pytest.fixture
def post(customer_client, headers):
    async def post(path: str, body=None, *, key: str | None = None, data=None, **extra):
        request_headers = {**headers, **extra}
        if key is not None:
            request_headers[idempotency.HEADER] = key
        response = await customer_client.post(
            path, json=body if data is None else None, data=data, headers=request_headers
        )
        return response, await response.read()

    return post


async def _count(pool, tenant: str, sql: str, *args) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval(sql, tenant, *args)


async def _customers(pool, tenant: str) -> int:
    return await _count(
        pool, tenant, "SELECT count(*) FROM customer.customers WHERE tenant_id = $1"
    )


async def _outbox(pool, tenant: str) -> int:
    return await _count(pool, tenant, "SELECT count(*) FROM customer.outbox WHERE tenant_id = $1")


async def test_a_retry_gets_the_first_answer_and_creates_nothing(post, pool, unique_tenant):
    key = str(uuid.uuid4())
    body = {"email": "once@example.com", "customerRef": "once"}
    first, first_body = await post(f"{API}/customers", body, key=key)
    assert first.status == 201
    second, second_body = await post(f"{API}/customers/", body, key=key)  # trailing slash too
    assert second.status == 201
    assert second_body == first_body
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.headers[idempotency.REPLAYED_HEADER] == "true"
    assert idempotency.REPLAYED_HEADER not in first.headers
    assert await _customers(pool, unique_tenant) == 1
    assert await _outbox(pool, unique_tenant) == 1  # one customer.created


async def test_same_key_other_body_is_422_and_does_nothing(post, pool, unique_tenant):
    key = "order-42"
    first, _ = await post(f"{API}/customers", {"email": "a@example.com"}, key=key)
    assert first.status == 201
    other, _ = await post(f"{API}/customers", {"email": "b@example.com"}, key=key)
    assert other.status == 422
    assert other.content_type == "application/problem+json"
    assert idempotency.HEADER in (await other.json())["errors"]
    elsewhere, _ = await post(f"{API}/customers/validate", {"email": "a@example.com"}, key=key)
    assert elsewhere.status == 422  # the same key on another path is another request
    assert await _customers(pool, unique_tenant) == 1


async def test_keys_are_per_tenant(post, customer_client, mint, pool, unique_tenant):
    key = "shared-key"
    first, _ = await post(f"{API}/customers", {"email": "t1@example.com"}, key=key)
    other_tenant = f"{unique_tenant}-b"
    response = await customer_client.post(
        f"{API}/customers",
        json={"email": "t1@example.com"},
        headers={**mint.headers(other_tenant), idempotency.HEADER: key},
    )
    assert first.status == response.status == 201
    assert idempotency.REPLAYED_HEADER not in response.headers
    assert await _customers(pool, other_tenant) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "naïve"])
async def test_malformed_keys_are_400(post, pool, unique_tenant, key):
    response, _ = await post(f"{API}/customers", {"email": "k@example.com"}, key=key)
    assert response.status == 400
    assert idempotency.HEADER in (await response.json())["errors"]
    assert await _customers(pool, unique_tenant) == 0


async def test_failures_are_not_kept_and_a_retry_runs_again(post, pool, unique_tenant):
    key = "retry-after-409"
    await post(f"{API}/customers", {"email": "taken@example.com"})
    clash, _ = await post(f"{API}/customers", {"email": "taken@example.com", "x": 1}, key=key)
    assert clash.status == 409
    async with pool.acquire() as conn:  # free the email: the retry can now succeed
        await conn.execute("DELETE FROM customer.customers WHERE tenant_id = $1", unique_tenant)
    retry, _ = await post(f"{API}/customers", {"email": "taken@example.com", "x": 1}, key=key)
    assert retry.status == 201


async def test_a_duplicate_while_the_first_runs_is_409(post, pool, unique_tenant, monkeypatch):
    started, finish = asyncio.Event(), asyncio.Event()
    real_create = CustomerService.create

    async def slow_create(self, tenant, body, **kwargs):
        started.set()
        await finish.wait()
        return await real_create(self, tenant, body, **kwargs)

    monkeypatch.setattr(CustomerService, "create", slow_create)
    body = {"email": "slow@example.com"}
    first = asyncio.create_task(post(f"{API}/customers", body, key="slow"))
    await started.wait()
    duplicate, _ = await post(f"{API}/customers", body, key="slow")
    assert duplicate.status == 409
    assert idempotency.HEADER in (await duplicate.json())["errors"]
    finish.set()
    response, _ = await first
    assert response.status == 201
    assert await _customers(pool, unique_tenant) == 1


async def test_the_write_and_its_record_commit_together(post, pool, unique_tenant, monkeypatch):
    """A failure after the use case but before the commit (here: recording the answer) leaves
    neither the customer nor its event: the retry then creates it once."""
    real_record = idempotency.records.record

    async def broken_record(*args, **kwargs):
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(idempotency.records, "record", broken_record)
    body = {"email": "atomic@example.com"}
    response, _ = await post(f"{API}/customers", body, key="atomic")
    assert response.status >= 500
    assert await _customers(pool, unique_tenant) == 0
    assert await _outbox(pool, unique_tenant) == 0

    # The dead attempt's claim stands for LEASE; once it lapses the retry runs, exactly once.
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE customer.idempotency_keys SET claimed_until = now() WHERE tenant_id = $1",
            unique_tenant,
        )
    monkeypatch.setattr(idempotency.records, "record", real_record)
    retry, _ = await post(f"{API}/customers", body, key="atomic")
    assert retry.status == 201
    again, _ = await post(f"{API}/customers", body, key="atomic")
    assert again.headers[idempotency.REPLAYED_HEADER] == "true"
    assert await _customers(pool, unique_tenant) == 1


async def test_upload_customers_is_queued_once(post, pool, unique_tenant):
    records = [{"email": f"u{i}@example.com"} for i in range(3)]
    first, first_body = await post(f"{API}/upload-customers", records, key="upload-1")
    second, second_body = await post(f"{API}/upload-customers", records, key="upload-1")
    assert first.status == second.status == 202
    assert second_body == first_body
    assert second.headers["Location"] == first.headers["Location"]
    batches = await _count(
        pool, unique_tenant, "SELECT count(*) FROM impex.batches WHERE tenant_id = $1"
    )
    queued = await _count(
        pool,
        unique_tenant,
        "SELECT count(*) FROM customer.outbox WHERE tenant_id = $1 AND exchange = 'impex'",
    )
    assert (batches, queued) == (1, 1)


async def test_file_upload_holds_no_connection_before_its_body_and_replays(
    post, pool, unique_tenant
):
    created, _ = await post("/api/import/batch", {"batchRef": "file-once"})
    batch_id = (await created.json())["id"]
    csv = b"email\nf1@example.com\nf2@example.com\n"
    path = f"/api/import/batch/{batch_id}/file"
    first, first_body = await post(path, data=csv, key="file-1", **{"Content-Type": "text/csv"})
    second, second_body = await post(path, data=csv, key="file-1", **{"Content-Type": "text/csv"})
    assert first.status == second.status == 202
    assert second_body == first_body
    assert second.headers[idempotency.REPLAYED_HEADER] == "true"
    other, _ = await post(path, data=csv + b"f3@example.com\n", key="file-1",
                          **{"Content-Type": "text/csv"})  # fmt: skip
    assert other.status == 422  # another declared length


async def test_deleting_a_customer_drops_answers_about_it(post, customer_client, headers, pool):
    first, _ = await post(f"{API}/customers", {"email": "gone@example.com"}, key="gone")
    customer_id = (await first.json())["id"]
    deleted = await customer_client.delete(f"{API}/customers/{customer_id}", headers=headers)
    assert deleted.status == 204
    async with pool.acquire() as conn:
        kept = await conn.fetchval(
            "SELECT count(*) FROM customer.idempotency_keys WHERE subject_id = $1",
            uuid.UUID(customer_id),
        )
    assert kept == 0


async def test_the_retention_sweep_deletes_keys_after_24_hours(post, pool, unique_tenant):
    await post(f"{API}/customers", {"email": "old@example.com"}, key="old")
    await post(f"{API}/customers", {"email": "new@example.com"}, key="new")
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE customer.idempotency_keys SET expires_at = now() - interval '1 second'"
            " WHERE tenant_id = $1 AND key = 'old'",
            unique_tenant,
        )
    sweeper = RetentionSweeper(
        pool,
        import_file_retention=timedelta(days=7),
        outbox_sent_retention=timedelta(days=7),
        interval=3600,
        clock=utcnow,
    )
    swept = await sweeper.sweep()
    assert swept.deleted_idempotency_keys >= 1
    async with pool.acquire() as conn:
        keys = await conn.fetch(
            "SELECT key FROM customer.idempotency_keys WHERE tenant_id = $1", unique_tenant
        )
    assert [row["key"] for row in keys] == ["new"]
    # The expired key is free again: the same key now creates anew.
    again, _ = await post(f"{API}/customers", {"email": "old2@example.com"}, key="old")
    assert again.status == 201 and idempotency.REPLAYED_HEADER not in again.headers


async def test_a_key_does_not_hide_an_optional_body(post, pool, unique_tenant):
    """The key's fingerprint reads the body before the handler: a handler whose body is optional
    must still see it (the search's criteria, the batch's fields), not an empty request."""
    for email in ("kept@example.com", "other@example.com"):
        created, _ = await post(f"{API}/customers", {"email": email})
        assert created.status == 201
    found, found_body = await post(
        f"{API}/customers/search", {"email": "KEPT@example.com"}, key="search-1"
    )
    assert found.status == 200
    assert [c["email"] for c in orjson.loads(found_body)["results"]] == ["kept@example.com"]
    too_long, too_long_body = await post(
        f"{API}/customers/search", {"email": "a" * 264}, key="search-2"
    )
    assert too_long.status == 400
    assert "email" in orjson.loads(too_long_body)["errors"]
    batch, _ = await post("/api/import/batch", {"batchRef": "keyed"}, key="batch-1")
    assert batch.status == 201
    assert (await batch.json())["batchRef"] == "keyed"
