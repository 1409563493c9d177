"""The import API (API.md §4) in-process, with the worker consuming from the test vhost: real
PostgreSQL, real RabbitMQ, the outbox relay carrying READY batches to the worker."""

from __future__ import annotations

import uuid

import pytest

from shared.authz import READ_CUSTOMERS, READ_IMPEX, WRITE_CUSTOMERS
from tests.support.imports import ENDED, csv_bytes, ndjson_bytes
from tests.support.waiting import eventually

IMPORT = "/api/import"
DEADLINE = 30.0


async def create_batch(client, headers, body=None) -> dict:
    kwargs = {"json": body} if body is not None else {}
    response = await client.post(f"{IMPORT}/batch", headers=headers, **kwargs)
    assert response.status == 201, await response.text()
    return await response.json()


async def upload(client, headers, batch_id, data: bytes, media_type="text/csv"):
    return await client.post(
        f"{IMPORT}/batch/{batch_id}/file",
        data=data,
        headers={**headers, "Content-Type": media_type},
    )


async def change_state(client, headers, state, **batch):
    return await client.put(
        f"{IMPORT}/batch/state-change", params={**batch, "state": state}, headers=headers
    )


async def ended(client, headers, batch_id) -> dict:
    """The batch once it has ended (polled with a deadline)."""

    async def probe():
        body = await (await client.get(f"{IMPORT}/batch/{batch_id}", headers=headers)).json()
        return body if body["state"] in ENDED else None

    return await eventually(probe, timeout=DEADLINE)


async def test_batch_is_created_with_location_and_read_back(customer_client, headers):
    """201 with the batch and its Location; GET returns it; a batchRef is unique per tenant."""
    response = await customer_client.post(
        f"{IMPORT}/batch", json={"batchRef": "nightly-1"}, headers=headers
    )
    assert response.status == 201
    batch = await response.json()
    assert response.headers["Location"] == f"{IMPORT}/batch/{batch['id']}"
    assert batch["batchRef"] == "nightly-1" and batch["state"] == "CREATED"
    assert (batch["total"], batch["processed"], batch["imported"], batch["failed"]) == (
        None, 0, 0, 0,
    )  # fmt: skip
    assert batch["createdAt"].endswith("Z") and batch["completedAt"] is None
    assert "errorMessage" not in batch
    fetched = await customer_client.get(f"{IMPORT}/batch/{batch['id']}", headers=headers)
    assert await fetched.json() == batch
    again = await customer_client.post(
        f"{IMPORT}/batch", json={"batchRef": "nightly-1"}, headers=headers
    )
    assert again.status == 409
    assert (await again.json())["errors"] == {"batchRef": ["already in use"]}


async def test_upload_is_accepted_and_waits_for_ready(customer_client, headers):
    """The file is stored (202, still CREATED); only text/csv, NDJSON or JSON is accepted, an
    empty file is refused, and READY needs content."""
    batch = await create_batch(customer_client, headers)
    assert (
        await change_state(customer_client, headers, "READY", batchId=batch["id"])
    ).status == 409
    wrong = await upload(customer_client, headers, batch["id"], b"x", "application/pdf")
    assert wrong.status == 415
    empty = await upload(customer_client, headers, batch["id"], b"")
    assert empty.status == 400
    response = await upload(customer_client, headers, batch["id"], b"email\na@example.com\n")
    assert response.status == 202
    body = await response.json()
    assert body["state"] == "CREATED" and body["id"] == batch["id"]
    assert response.headers["Location"] == f"{IMPORT}/batch/{batch['id']}"
    assert (await upload(customer_client, headers, uuid.uuid4(), b"email\n")).status == 404
    assert (await upload(customer_client, headers, "not-a-uuid", b"email\n")).status == 404


async def test_ready_batch_is_imported_with_counters_and_paged_row_errors(
    customer_client, worker, headers
):
    """READY queues the batch; the worker imports it; counters, completedAt and the row errors
    (paged, records numbered from 1 without the header) tell the outcome."""
    rows = [[f"P-{n}", f"p{n}@example.com" if n % 4 else "broken"] for n in range(1, 13)]
    batch = await create_batch(customer_client, headers, {"batchRef": "paged"})
    await upload(customer_client, headers, batch["id"], csv_bytes(["customerRef", "email"], rows))
    readied = await change_state(customer_client, headers, "READY", batchRef="paged")
    assert readied.status == 200
    assert (await readied.json())["state"] in ("READY", "PROCESSING", "COMPLETED")
    done = await ended(customer_client, headers, batch["id"])
    assert (done["state"], done["total"], done["processed"]) == ("COMPLETED", 12, 12)
    assert (done["imported"], done["failed"]) == (9, 3)
    assert done["completedAt"] is not None
    page = await customer_client.get(
        f"{IMPORT}/batch/{batch['id']}/errors", params={"pageSize": 2, "page": 1}, headers=headers
    )
    body = await page.json()
    assert (body["page"], body["pageSize"], body["total"]) == (1, 2, 3)
    (error,) = body["results"]
    assert error == {
        "row": 12, "customerRef": "P-12", "email": "broken",
        "errors": {"email": ["Not a valid email address."]},
    }  # fmt: skip
    customer = await customer_client.get("/api/v2/customers/P-1/ref", headers=headers)
    assert (await customer.json())["email"] == "p1@example.com"


async def test_batches_are_listed_by_ref_and_state_in_pages(customer_client, headers):
    """Newest first, filtered by batchRef or state; pageSize over 500 is a 400."""
    refs = [f"list-{n}" for n in range(3)]
    for ref in refs:
        await create_batch(customer_client, headers, {"batchRef": ref})
    listing = await customer_client.get(
        f"{IMPORT}/batch", params={"state": "CREATED", "pageSize": 2}, headers=headers
    )
    body = await listing.json()
    assert (body["total"], body["pageSize"], body["page"]) == (3, 2, 0)
    assert [b["batchRef"] for b in body["results"]] == ["list-2", "list-1"]
    by_ref = await customer_client.get(
        f"{IMPORT}/batch", params={"batchRef": "list-0"}, headers=headers
    )
    assert [b["batchRef"] for b in (await by_ref.json())["results"]] == ["list-0"]
    none = await customer_client.get(f"{IMPORT}/batch", params={"state": "ERROR"}, headers=headers)
    assert (await none.json())["total"] == 0
    for params in ({"pageSize": "501"}, {"page": "-1"}, {"pageSize": "x"}, {"state": "DONE"}):
        bad = await customer_client.get(f"{IMPORT}/batch", params=params, headers=headers)
        assert bad.status == 400, params


@pytest.mark.parametrize("page", [str(2**31), str(2**63), "9" * 40])
async def test_a_page_past_the_bound_is_a_400_naming_the_page(customer_client, headers, page):
    """A page whose offset would overflow PostgreSQL's bigint is the client's error, not a 500,
    on both paged listings; the largest allowed page is simply empty."""
    batch = await create_batch(customer_client, headers)
    for path in (f"{IMPORT}/batch", f"{IMPORT}/batch/{batch['id']}/errors"):
        bad = await customer_client.get(
            path, params={"page": page, "pageSize": "500"}, headers=headers
        )
        assert bad.status == 400, path
        problem = await bad.json()
        assert problem["status"] == 400
        assert problem["errors"] == {"page": ["Must be at most 2147483647."]}
        last = await customer_client.get(
            path, params={"page": str(2**31 - 1), "pageSize": "500"}, headers=headers
        )
        assert last.status == 200, path
        assert (await last.json())["results"] == []


async def test_records_added_as_resources_are_imported(customer_client, worker, headers):
    """POST /resource appends records (one, or an array) to a CREATED batch, answering each
    record's row number; READY imports them."""
    batch = await create_batch(customer_client, headers, {"batchRef": "res"})
    one = await customer_client.post(
        f"{IMPORT}/resource",
        json={"batchRef": "res", "entityType": "customer", "customer": {"email": "r1@example.com"}},
        headers=headers,
    )
    assert one.status == 201
    assert (await one.json())["row"] == 1
    many = await customer_client.post(
        f"{IMPORT}/resource",
        json=[
            {"batchId": batch["id"], "entityType": "customer", "customer": {"email": "r2@x.com"}},
            {"batchId": batch["id"], "entityType": "customer", "customer": {"email": "bad"}},
        ],
        headers=headers,
    )
    assert [r["row"] for r in await many.json()] == [2, 3]
    wrong_type = await customer_client.post(
        f"{IMPORT}/resource",
        json={"batchId": batch["id"], "entityType": "order", "customer": {}},
        headers=headers,
    )
    assert wrong_type.status == 400
    assert (
        await change_state(customer_client, headers, "READY", batchId=batch["id"])
    ).status == 200
    done = await ended(customer_client, headers, batch["id"])
    assert (done["state"], done["total"], done["imported"], done["failed"]) == (
        "COMPLETED", 3, 2, 1,
    )  # fmt: skip
    late = await customer_client.post(
        f"{IMPORT}/resource",
        json={"batchId": batch["id"], "entityType": "customer", "customer": {"email": "z@x.com"}},
        headers=headers,
    )
    assert late.status == 409


async def test_upload_customers_answers_202_with_location_and_imports(
    customer_client, worker, headers
):
    """The customer API's bulk endpoint makes a READY batch of its array at once."""
    response = await customer_client.post(
        "/api/v2/upload-customers",
        json=[{"email": "bulk1@example.com"}, {"email": "bulk2@example.com", "dob": "99-99-1"}],
        headers=headers,
    )
    assert response.status == 202
    batch = await response.json()
    assert response.headers["Location"] == f"{IMPORT}/batch/{batch['id']}"
    assert batch["state"] == "READY" and batch["total"] == 2
    done = await ended(customer_client, headers, batch["id"])
    assert (done["state"], done["imported"], done["failed"]) == ("COMPLETED", 1, 1)
    not_array = await customer_client.post(
        "/api/v2/upload-customers", json={"email": "x@example.com"}, headers=headers
    )
    assert not_array.status == 400


async def test_aborted_batch_says_why_and_cannot_be_queued(customer_client, headers):
    """ABORTED ends a batch with its errorMessage; it cannot be made READY afterwards."""
    batch = await create_batch(customer_client, headers, {"batchRef": "stop"})
    response = await change_state(customer_client, headers, "ABORTED", batchRef="stop")
    body = await response.json()
    assert (body["state"], body["errorMessage"]) == ("ABORTED", "Aborted by the client.")
    assert body["completedAt"] is not None
    assert (
        await change_state(customer_client, headers, "READY", batchId=batch["id"])
    ).status == 409
    assert (await change_state(customer_client, headers, "ABORTED", batchRef="stop")).status == 200
    assert (await change_state(customer_client, headers, "DONE", batchRef="stop")).status == 400
    assert (await change_state(customer_client, headers, "READY")).status == 400


async def test_another_tenants_batches_do_not_exist(customer_client, mint, headers, unique_tenant):
    """A batch id of another tenant is a plain 404 everywhere, and never listed."""
    batch = await create_batch(customer_client, headers, {"batchRef": "mine"})
    other = mint.headers(unique_tenant + "_other")
    for path in (f"{IMPORT}/batch/{batch['id']}", f"{IMPORT}/batch/{batch['id']}/errors"):
        assert (await customer_client.get(path, headers=other)).status == 404
    assert (await upload(customer_client, other, batch["id"], b"email\n")).status == 404
    listing = await customer_client.get(f"{IMPORT}/batch", headers=other)
    assert (await listing.json())["total"] == 0
    foreign = await change_state(customer_client, other, "READY", batchRef="mine")
    assert foreign.status == 404


async def test_imports_need_the_impex_scopes(customer_client, mint, unique_tenant):
    """Reading needs impex:read, changing needs impex:write (customer scopes are not enough)."""
    reader = mint.headers(unique_tenant, (READ_IMPEX,))
    assert (await customer_client.get(f"{IMPORT}/batch", headers=reader)).status == 200
    refused = await customer_client.post(f"{IMPORT}/batch", json={}, headers=reader)
    assert refused.status == 403 and "impex:write" in (await refused.json())["detail"]
    customers_only = mint.headers(unique_tenant, (READ_CUSTOMERS, WRITE_CUSTOMERS))
    upload_refused = await customer_client.post(
        "/api/v2/upload-customers", json=[], headers=customers_only
    )
    assert upload_refused.status == 403


async def test_ndjson_upload_with_bad_lines_reports_them(customer_client, worker, headers):
    """An NDJSON line that is not a JSON object is a row error; blank lines are not records."""
    data = (
        ndjson_bytes([{"email": "n1@example.com"}])
        + b"\n{oops\n[1,2]\n"
        + ndjson_bytes([{"email": "n2@example.com"}])
    )
    batch = await create_batch(customer_client, headers)
    await upload(customer_client, headers, batch["id"], data, "application/x-ndjson")
    await change_state(customer_client, headers, "READY", batchId=batch["id"])
    done = await ended(customer_client, headers, batch["id"])
    assert (done["total"], done["imported"], done["failed"]) == (4, 2, 2)
    errors = await customer_client.get(f"{IMPORT}/batch/{batch['id']}/errors", headers=headers)
    assert [e["row"] for e in (await errors.json())["results"]] == [2, 3]


async def test_a_batch_ref_postgresql_cannot_store_names_no_batch(customer_client, headers):
    """A NUL in a batchRef is a 400 naming it, in a body or a query (never a 500)."""
    bad = await customer_client.post(
        f"{IMPORT}/batch", json={"batchRef": "a\x00b"}, headers=headers
    )
    assert bad.status == 400
    assert list((await bad.json())["errors"]) == ["batchRef"]
    listing = await customer_client.get(
        f"{IMPORT}/batch", params={"batchRef": "a\x00b"}, headers=headers
    )
    assert listing.status == 400
    assert list((await listing.json())["errors"]) == ["batchRef"]
    assert (await change_state(customer_client, headers, "READY", batchRef="a\x00b")).status == 400
