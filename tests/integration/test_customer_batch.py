"""POST /customers/batch against real PostgreSQL (API.md §8): processing order, one transaction
per item, each item exactly like its single endpoint (validation, merge, 409, 404, events)."""

from __future__ import annotations

import asyncpg
import pytest

from shared.amqp import CUSTOMER_CREATED, CUSTOMER_DELETED, CUSTOMER_UPDATED


async def _events(test_settings, tenant: str) -> dict[str, list[str]]:
    """Each customer's events in outbox order (items of different customers may run side by
    side, so only one customer's events have an order to keep)."""
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT routing_key, payload->'customer'->>'id' AS customer FROM customer.outbox"
            " WHERE tenant_id = $1 ORDER BY id",
            tenant,
        )
    finally:
        await conn.close()
    events: dict[str, list[str]] = {}
    for row in rows:
        events.setdefault(row["customer"], []).append(row["routing_key"])
    return events


async def test_every_item_succeeding_is_200_in_processing_order(
    calls, test_settings, unique_tenant
):
    kept = await calls.create(email="kept@x.com", customerRef="K-1", firstName="Kim")
    gone = await calls.create(email="gone@x.com", customerRef="G-1")
    body = {
        # Given out of order on purpose: the answer follows create → update → upsert → delete.
        "delete": [{"customerRef": "G-1"}],
        "upsert": [
            {"customerRef": "K-1", "lastName": "Upserted"},
            {"customerRef": "NEW-1", "email": "new1@x.com"},
        ],
        "update": [{"id": kept["id"], "firstName": "Kay"}],
        "create": [{"email": "made@x.com", "customerRef": "M-1"}],
    }
    status, result = await calls.call("POST", "/customers/batch", body)
    assert status == 200, result
    assert (result["succeeded"], result["failed"]) == (5, 0)
    assert [(r["operation"], r["index"], r["status"]) for r in result["results"]] == [
        ("create", 0, 201),
        ("update", 0, 200),
        ("upsert", 0, 200),
        ("upsert", 1, 201),
        ("delete", 0, 204),
    ]
    create, update, upsert_match, upsert_new, delete = result["results"]
    assert create["customer"]["email"] == "made@x.com" and create["id"] == create["customer"]["id"]
    # Merge: the update kept what it did not name, the upsert saw the update before it.
    assert upsert_match["customer"]["firstName"] == "Kay"
    assert upsert_match["customer"]["lastName"] == "Upserted"
    assert upsert_match["id"] == update["id"] == kept["id"]
    assert delete == {"operation": "delete", "index": 0, "status": 204, "id": gone["id"]}
    assert (await calls.call("GET", f"/customers/{gone['id']}"))[0] == 404
    status, fetched = await calls.call("GET", f"/customers/{upsert_new['id']}")
    assert (status, fetched["customerRef"]) == (200, "NEW-1")
    # The same events as the single endpoints, one per item, each customer's in order.
    assert await _events(test_settings, unique_tenant) == {
        kept["id"]: [CUSTOMER_CREATED, CUSTOMER_UPDATED, CUSTOMER_UPDATED],
        gone["id"]: [CUSTOMER_CREATED, CUSTOMER_DELETED],
        create["id"]: [CUSTOMER_CREATED],
        upsert_new["id"]: [CUSTOMER_CREATED],
    }


async def test_a_failing_item_undoes_nothing_else_and_gives_207(
    calls, test_settings, unique_tenant
):
    taken = await calls.create(email="taken@x.com")
    body = {
        "create": [
            {"email": "ok1@x.com"},
            {"email": "TAKEN@x.com"},  # 409, as POST /customers
            {"email": "not-an-email"},  # 400
            {"email": "ok2@x.com", "customerRef": "C-2"},
        ],
        "update": [
            {"id": "00000000-0000-4000-8000-000000000000", "firstName": "X"},  # 404
            {"firstName": "nameless"},  # 400: names nobody
            {"customerRef": "C-2", "firstName": "Seen"},  # sees the create before it
        ],
        "upsert": [{"id": "00000000-0000-4000-8000-000000000001", "email": "u@x.com"}],  # 404
        "delete": [{"customerRef": "nobody"}, {"email": "ok1@x.com"}],  # 404, 400
    }
    status, result = await calls.call("POST", "/customers/batch", body)
    assert status == 207, result
    statuses = [(r["operation"], r["index"], r["status"]) for r in result["results"]]
    assert statuses == [
        ("create", 0, 201), ("create", 1, 409), ("create", 2, 400), ("create", 3, 201),
        ("update", 0, 404), ("update", 1, 400), ("update", 2, 200),
        ("upsert", 0, 404),
        ("delete", 0, 404), ("delete", 1, 400),
    ]  # fmt: skip
    assert (result["succeeded"], result["failed"]) == (3, 7)
    conflict = result["results"][1]["error"]
    assert conflict["status"] == 409 and conflict["errors"] == {"email": ["already in use"]}
    assert "email" in result["results"][2]["error"]["errors"]
    assert result["results"][6]["customer"]["firstName"] == "Seen"
    assert "id" not in result["results"][1] and "customer" not in result["results"][1]
    # Only the successes were written and announced.
    assert (await calls.call("GET", "/customers/count"))[1] == {"count": 3}
    results = result["results"]
    assert await _events(test_settings, unique_tenant) == {
        taken["id"]: [CUSTOMER_CREATED],
        results[0]["id"]: [CUSTOMER_CREATED],
        results[3]["id"]: [CUSTOMER_CREATED, CUSTOMER_UPDATED],
    }


async def test_upsert_matches_by_email_when_no_id_or_ref(calls):
    existing = await calls.create(email="Match@x.com", firstName="Old")
    body = {"upsert": [{"email": "match@X.com", "firstName": "New"}]}
    status, result = await calls.call("POST", "/customers/batch", body)
    assert status == 200
    (item,) = result["results"]
    assert (item["status"], item["id"], item["customer"]["firstName"]) == (
        200,
        existing["id"],
        "New",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "_body"),
        ({"create": []}, "_body"),
        ({"create": [{"email": f"a{i}@x.com"} for i in range(101)]}, "_body"),
        ({"create": [{}] * 60, "delete": [{"id": "x"}] * 41}, "_body"),
        ({"create": {"email": "a@x.com"}}, "create"),
        ([{"email": "a@x.com"}], "_body"),
    ],
)
async def test_bad_batches_are_400_and_write_nothing(calls, body, field):
    status, problem = await calls.call("POST", "/customers/batch", body)
    assert status == 400, problem
    assert field in problem["errors"]
    assert (await calls.call("GET", "/customers/count"))[1] == {"count": 0}


async def test_a_hundred_items_are_accepted(calls):
    body = {"create": [{"email": f"c{i}@x.com"} for i in range(100)]}
    status, result = await calls.call("POST", "/customers/batch", body)
    assert (status, result["succeeded"]) == (200, 100)


async def test_items_naming_one_customer_in_different_ways_still_run_in_order(calls):
    """Items run side by side only when they cannot see each other: the stored customer ties an
    update by id to a later one by its old customerRef, by its email and to an upsert freeing
    the old ref, so each sees the one before it (a bystander's items run alongside)."""
    who = await calls.create(email="who@x.com", customerRef="OLD")
    body = {
        "create": [{"email": f"bystander{n}@x.com"} for n in range(8)],
        "update": [
            {"id": who["id"], "customerRef": "NEW"},
            {"customerRef": "OLD", "firstName": "Lost"},  # 404: the ref moved just before
            {"email": "WHO@x.com", "firstName": "Found"},
        ],
        "upsert": [{"customerRef": "OLD", "email": "other@x.com"}],  # OLD is free: a create
    }
    status, result = await calls.call("POST", "/customers/batch", body)
    assert status == 207, result
    tail = result["results"][8:]
    assert [(r["operation"], r["status"]) for r in tail] == [
        ("update", 200), ("update", 404), ("update", 200), ("upsert", 201),
    ]  # fmt: skip
    assert (tail[2]["customer"]["customerRef"], tail[2]["customer"]["firstName"]) == (
        "NEW",
        "Found",
    )
    assert tail[3]["id"] != who["id"] and tail[3]["customer"]["customerRef"] == "OLD"
    assert [r["status"] for r in result["results"][:8]] == [201] * 8
