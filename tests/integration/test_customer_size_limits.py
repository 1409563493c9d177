"""A customer cannot grow without bound (issue 10.4): attribute groups are capped per request and
on the merged result of a PUT, attributes per group, and the stored profile's size; imports are
held to the same caps (a row error), through the schema's compiled fast path too."""

from __future__ import annotations

from typing import Any

from impex_worker.imports.runner import BatchRunner
from impex_worker.imports.validation import Validator
from shared.schemas import MAX_ATTRIBUTE_GROUPS, MAX_ATTRIBUTES_PER_GROUP, MAX_PROFILE_BYTES
from tests.integration.test_import_runner import import_file
from tests.support.imports import customers_of, ndjson_bytes, row_errors

API = "/api/v2"


def groups(names: range, attributes: int = 1, value: str = "v") -> dict[str, Any]:
    return {f"g{n}": {"attributes": {f"a{i}": value for i in range(attributes)}} for n in names}


# Groups this large: 100 attributes of 255-character names and values, ~51 KB each as JSON.
def big_groups(names: range) -> dict[str, Any]:
    return {
        f"g{n}": {"attributes": {f"{i:03d}".ljust(255, "n"): "v" * 255 for i in range(100)}}
        for n in names
    }


async def call(client, headers, method: str, path: str, body: Any) -> tuple[int, Any]:
    response = await client.request(method, API + path, json=body, headers=headers)
    return response.status, await response.json()


async def test_a_put_cannot_merge_the_groups_past_the_cap(customer_client, headers):
    """30 stored groups + 30 new ones (each request valid alone) is a 400 naming
    attributeGroups, and nothing changes; up to the cap is fine, and removing groups (null)
    makes room."""
    status, created = await call(
        customer_client, headers, "POST", "/customers",
        {"email": "groups@example.com", "attributeGroups": groups(range(30))},
    )  # fmt: skip
    assert status == 201, created
    path = f"/customers/id={created['id']}"

    status, body = await call(
        customer_client, headers, "PUT", path, {"attributeGroups": groups(range(30, 60))}
    )
    assert status == 400, body
    assert list(body["errors"]) == ["attributeGroups"]
    assert "At most 50 attribute groups" in body["errors"]["attributeGroups"][0]
    status, stored = await call(
        customer_client, headers, "GET", f"/customers/{created['id']}", None
    )
    assert len(stored["attributeGroups"]) == 30

    status, body = await call(
        customer_client, headers, "PUT", path, {"attributeGroups": groups(range(30, 50))}
    )
    assert status == 200 and len(body["attributeGroups"]) == MAX_ATTRIBUTE_GROUPS
    swap = {**{f"g{n}": None for n in range(10)}, **groups(range(50, 60))}
    status, body = await call(customer_client, headers, "PUT", path, {"attributeGroups": swap})
    assert status == 200, body
    assert sorted(body["attributeGroups"]) == sorted(f"g{n}" for n in range(10, 60))


async def test_a_group_takes_at_most_100_attributes(customer_client, headers):
    status, body = await call(
        customer_client, headers, "POST", "/customers",
        {"email": "attrs@example.com", "attributeGroups": groups(range(1), attributes=101)},
    )  # fmt: skip
    assert status == 400
    assert body["errors"] == {
        "attributeGroups.g0.attributes": [
            f"At most {MAX_ATTRIBUTES_PER_GROUP} attributes are allowed in a group."
        ]
    }


async def test_the_stored_profile_is_capped_in_size_after_the_merge(customer_client, headers):
    """Four large groups fit (~205 KB); two more, sent in a PUT of their own, would make the
    profile larger than 256 KiB: 400 naming attributeGroups, the stored customer unchanged.
    Six at once on create are refused the same way."""
    status, created = await call(
        customer_client, headers, "POST", "/customers",
        {"email": "big@example.com", "attributeGroups": big_groups(range(4))},
    )  # fmt: skip
    assert status == 201, created
    status, body = await call(
        customer_client, headers, "PUT", f"/customers/id={created['id']}",
        {"attributeGroups": big_groups(range(4, 6))},
    )  # fmt: skip
    assert status == 400
    assert list(body["errors"]) == ["attributeGroups"]
    assert str(MAX_PROFILE_BYTES) in body["errors"]["attributeGroups"][0]
    status, stored = await call(
        customer_client, headers, "GET", f"/customers/{created['id']}", None
    )
    assert sorted(stored["attributeGroups"]) == ["g0", "g1", "g2", "g3"]

    status, body = await call(
        customer_client, headers, "POST", "/customers",
        {"email": "bigger@example.com", "attributeGroups": big_groups(range(6))},
    )  # fmt: skip
    assert status == 400 and list(body["errors"]) == ["attributeGroups"]


async def test_imports_hold_to_the_same_caps_as_row_errors(pool, unique_tenant, tmp_path):
    """In one file: a record creating 30 groups, a later one adding 30 more to that customer
    (merged: 60), one with 51 groups, one with 101 attributes in a group, one over the size cap:
    each breaking record is a row error naming the field, the rest are imported."""
    validator = Validator()
    runner = BatchRunner(pool, drop_dir=str(tmp_path), validator=validator, chunk_records=3)
    records = [
        {"customerRef": "G-1", "email": "g1@example.com", "attributeGroups": groups(range(30))},
        {"customerRef": "G-1", "email": "g1@example.com", "attributeGroups": groups(range(30, 60))},
        {"email": "many@example.com", "attributeGroups": groups(range(51))},
        {"email": "wide@example.com", "attributeGroups": groups(range(1), attributes=101)},
        {"email": "huge@example.com", "attributeGroups": big_groups(range(6))},
        {"email": "fine@example.com", "attributeGroups": groups(range(50))},
    ]
    try:
        batch = await import_file(runner, pool, unique_tenant, ndjson_bytes(records), "ndjson")
    finally:
        validator.close()
    assert (batch["state"], batch["imported"], batch["failed"]) == ("COMPLETED", 2, 4)
    async with pool.acquire() as conn:
        errors = {
            e["record_no"]: list(e["errors"])
            for e in await row_errors(conn, unique_tenant, batch["id"])
        }
        customers = await customers_of(conn, unique_tenant)
    assert errors == {
        2: ["attributeGroups"],
        3: ["attributeGroups"],
        4: ["attributeGroups.g0.attributes"],
        5: ["attributeGroups"],
    }
    assert sorted(customers) == ["fine@example.com", "g1@example.com"]
    assert len(customers["g1@example.com"]["profile"]["attributeGroups"]) == 30
