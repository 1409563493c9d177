"""The batch use case's own rules with a hand-written fake of the customer use cases: order,
result shape, and that one item's failure (even an unexpected one) is that item's alone."""

from __future__ import annotations

from typing import Any

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
