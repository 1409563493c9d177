"""The batch use case's own rules with a hand-written fake of the customer use cases: order,
result shape, and that one item's failure (even an unexpected one) is that item's alone."""

from __future__ import annotations

import asyncio
from typing import Any

from customer_service.batch.items import dependent_groups
from customer_service.batch.service import BatchService
from customer_service.service import Identifier
from shared.errors import Conflict, NotFound, Unavailable


class FakeCustomers:
    def __init__(self, fail: dict[str, Exception] | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail = fail or {}

    def _maybe_fail(self, key: str) -> None:
        if key in self.fail:
            raise self.fail[key]

    async def create(self, tenant: str, body: Any) -> dict[str, Any]:
        self.calls.append(("create", body["email"]))
        self._maybe_fail(body["email"])
        return {"id": f"id-{body['email']}", "email": body["email"]}

    async def update(self, tenant: str, identifier: Identifier, body: Any) -> dict[str, Any]:
        self.calls.append(("update", identifier.value))
        self._maybe_fail(identifier.value)
        return {"id": f"id-{identifier.value}"}

    async def delete(self, tenant: str, identifier: Identifier) -> str:
        self.calls.append(("delete", identifier.value))
        self._maybe_fail(identifier.value)
        return f"id-{identifier.value}"

    async def holders_of(self, tenant: str, keys: Any) -> list[dict[str, Any]]:
        return []


async def test_items_run_create_update_upsert_delete_and_failures_stay_theirs():
    customers = FakeCustomers(
        {"boom@x.com": RuntimeError("a bug"), "taken@x.com": Conflict("taken"), "R9": NotFound()}
    )
    status, document = await BatchService(customers).run(
        "t",
        {
            "delete": [{"customerRef": "R1"}],
            "upsert": [{"customerRef": "R9", "email": "new@x.com"}],
            "create": [{"email": "boom@x.com"}, {"email": "taken@x.com"}, {"email": "ok@x.com"}],
        },
    )
    assert status == 207
    assert customers.calls == [
        ("create", "boom@x.com"), ("create", "taken@x.com"), ("create", "ok@x.com"),
        ("update", "R9"), ("create", "new@x.com"),  # no match by customerRef: created
        ("delete", "R1"),
    ]  # fmt: skip
    results = document["results"]
    assert [(r["operation"], r["index"], r["status"]) for r in results] == [
        ("create", 0, 500), ("create", 1, 409), ("create", 2, 201),
        ("upsert", 0, 201), ("delete", 0, 204),
    ]  # fmt: skip
    assert results[0]["error"]["detail"] == "The server could not complete this item."
    assert "a bug" not in str(document)
    assert (document["succeeded"], document["failed"]) == (3, 2)


async def test_a_database_down_fails_the_rest_without_trying_them():
    customers = FakeCustomers({"a@x.com": Unavailable("down")})
    status, document = await BatchService(customers).run(
        "t", {"create": [{"email": "a@x.com"}, {"email": "b@x.com"}], "delete": [{"id": "x"}]}
    )
    assert status == 207
    assert [r["status"] for r in document["results"]] == [503, 503, 503]
    assert customers.calls == [("create", "a@x.com")]


async def test_upsert_by_unknown_id_is_404_not_a_create():
    customers = FakeCustomers({"u1": NotFound("No such customer.")})
    status, document = await BatchService(customers).run(
        "t", {"upsert": [{"id": "u1", "email": "e@x.com"}]}
    )
    assert (status, document["results"][0]["status"]) == (207, 404)
    assert customers.calls == [("update", "u1")]


class SlowCustomers(FakeCustomers):
    """Every call yields to the loop while "in the database", and one customer is stored."""

    def __init__(self, stored: list[dict[str, Any]]) -> None:
        super().__init__()
        self.stored = stored
        self.running = 0
        self.most_running = 0

    async def _in_database(self) -> None:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.running -= 1

    async def create(self, tenant: str, body: Any) -> dict[str, Any]:
        await self._in_database()
        return await super().create(tenant, body)

    async def update(self, tenant: str, identifier: Identifier, body: Any) -> dict[str, Any]:
        await self._in_database()
        return await super().update(tenant, identifier, body)

    async def holders_of(self, tenant: str, keys: Any) -> list[dict[str, Any]]:
        return self.stored


async def test_items_naming_one_customer_run_in_order_and_the_answer_keeps_processing_order():
    stored = {"id": "11111111-1111-4111-8111-111111111111", "customerRef": "R1",
              "alternateCustomerRef": None, "email": "one@x.com"}  # fmt: skip
    customers = SlowCustomers([stored])
    body = {
        "create": [{"email": f"c{n}@x.com"} for n in range(6)] + [{"email": "ONE@x.com"}],
        # The same stored customer named three ways: by ref, by id, by its email.
        "update": [{"customerRef": "R1"}, {"id": stored["id"].upper()}, {"email": "one@x.com"}],
    }
    status, document = await BatchService(customers, lanes=3).run("t", body)
    assert status == 200
    assert [(r["operation"], r["index"]) for r in document["results"]] == [
        *(("create", n) for n in range(7)), ("update", 0), ("update", 1), ("update", 2),
    ]  # fmt: skip
    # Independent items overlapped, at most `lanes` at a time ...
    assert 1 < customers.most_running <= 3
    # ... while those of the stored customer ran in processing order.
    named = [c for c in customers.calls if c[1] in ("ONE@x.com", "R1", stored["id"].upper(),
                                                    "one@x.com")]  # fmt: skip
    assert named == [("create", "ONE@x.com"), ("update", "R1"),
                     ("update", stored["id"].upper()), ("update", "one@x.com")]  # fmt: skip


def test_dependent_groups_join_items_through_shared_keys_and_stored_customers():
    items = [
        {"email": "A@x.com"},  # 0
        {"email": "a@X.COM "},  # 1: the same email, spelled differently
        {"customerRef": "R2", "email": "b@x.com"},  # 2
        {"id": "22222222-2222-4222-8222-222222222222"},  # 3: the stored holder of R2
        {"customerRef": "R3"},  # 4: on its own
        "not an object",  # 5: on its own
        {"alternateCustomerRef": "ALT", "email": "c@x.com"},  # 6
        {"alternateCustomerRef": "ALT"},  # 7
    ]
    stored = [{"id": "22222222-2222-4222-8222-222222222222", "customerRef": "R2",
               "alternateCustomerRef": None, "email": None}]  # fmt: skip
    assert dependent_groups(items, stored) == [[0, 1], [2, 3], [4], [5], [6, 7]]
    assert dependent_groups(items[2:4]) == [[0], [1]]  # nothing stored: unrelated


async def test_concurrent_batches_share_the_process_slots():
    customers = SlowCustomers([])
    service = BatchService(customers, lanes=3, slots=4)
    bodies = [{"create": [{"email": f"b{b}-{n}@x.com"} for n in range(9)]} for b in range(3)]
    answers = await asyncio.gather(*(service.run("t", body) for body in bodies))
    assert [status for status, _ in answers] == [200, 200, 200]
    assert customers.most_running == 4
