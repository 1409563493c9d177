"""Optimistic concurrency on one customer (API.md §6): ETag on reads and writes, If-None-Match →
304, If-Match on PUT and DELETE → 412 when stale, with nothing changed."""

from __future__ import annotations

import asyncio

import pytest

from customer_service import service as service_module

API = "/api/v2"


@pytest.fixture
def call(customer_client, headers):
    async def call(method: str, path: str, body=None, **extra_headers):
        response = await customer_client.request(
            method, API + path, json=body, headers={**headers, **extra_headers}
        )
        text = await response.text()
        return response, text

    return call


async def _create(call, **fields):
    response, _ = await call("POST", "/customers", {"email": "etag@example.com", **fields})
    assert response.status == 201
    return await response.json(), response.headers["ETag"]


async def test_reads_carry_a_strong_etag_that_moves_only_with_the_customer(call):
    customer, created_tag = await _create(call, customerRef="etag-ref")
    assert created_tag.startswith('"') and not created_tag.startswith("W/")
    tags = set()
    for path in (
        f"/customers/{customer['id']}",
        "/customers/etag-ref/ref",
        "/customers/ETAG@example.com/email",
    ):
        response, _ = await call("GET", path)
        assert response.status == 200
        tags.add(response.headers["ETag"])
    assert tags == {created_tag}

    response, _ = await call("PUT", f"/customers/id={customer['id']}", {"firstName": "Ann"})
    changed_tag = response.headers["ETag"]
    assert changed_tag != created_tag
    response, _ = await call("GET", f"/customers/{customer['id']}")
    assert response.headers["ETag"] == changed_tag

    # A PUT that changes nothing keeps the version.
    response, _ = await call("PUT", f"/customers/id={customer['id']}", {"firstName": "Ann"})
    assert response.headers["ETag"] == changed_tag


async def test_if_none_match_gives_304_only_while_unchanged(call):
    customer, tag = await _create(call)
    path = f"/customers/{customer['id']}"
    response, text = await call("GET", path, **{"If-None-Match": tag})
    assert response.status == 304 and text == ""
    assert response.headers["ETag"] == tag
    response, _ = await call("GET", path, **{"If-None-Match": f'"other", W/{tag}'})
    assert response.status == 304  # weak comparison for If-None-Match

    await call("PUT", f"/customers/id={customer['id']}", {"lastName": "Moved"})
    response, text = await call("GET", path, **{"If-None-Match": tag})
    assert response.status == 200 and '"Moved"' in text


@pytest.mark.parametrize(
    "put_path",
    ["/customers/id={id}", "/customers/customerRef=lost-ref", "/customers"],
)
async def test_lost_update_becomes_412_and_nothing_changes(call, put_path):
    customer, tag = await _create(call, customerRef="lost-ref")
    path = put_path.format(id=customer["id"])
    first, _ = await call(
        "PUT", path, {"id": customer["id"], "firstName": "A"}, **{"If-Match": tag}
    )
    assert first.status == 200
    fresh_tag = first.headers["ETag"]

    stale, _ = await call(
        "PUT", path, {"id": customer["id"], "firstName": "B"}, **{"If-Match": tag}
    )
    assert stale.status == 412
    assert stale.content_type == "application/problem+json"
    assert "If-Match" in (await stale.json())["errors"]
    response, _ = await call("GET", f"/customers/{customer['id']}")
    assert (await response.json())["firstName"] == "A"
    assert response.headers["ETag"] == fresh_tag


async def test_if_match_star_and_lists_and_weak_tags(call):
    customer, tag = await _create(call)
    path = f"/customers/id={customer['id']}"
    response, _ = await call("PUT", path, {"firstName": "Star"}, **{"If-Match": "*"})
    assert response.status == 200
    tag = response.headers["ETag"]
    response, _ = await call("PUT", path, {"firstName": "L"}, **{"If-Match": f'"nope", {tag}'})
    assert response.status == 200
    tag = response.headers["ETag"]
    # If-Match compares strongly: a weak tag never matches.
    response, _ = await call("PUT", path, {"firstName": "W"}, **{"If-Match": f"W/{tag}"})
    assert response.status == 412
    response, _ = await call("PUT", path, {"firstName": "X"}, **{"If-Match": "not-a-tag"})
    assert response.status == 400
    assert "If-Match" in (await response.json())["errors"]


async def test_unknown_customer_is_404_whatever_if_match_says(call):
    missing = "00000000-0000-4000-8000-000000000000"
    response, _ = await call(
        "PUT", f"/customers/id={missing}", {"firstName": "Z"}, **{"If-Match": "*"}
    )
    assert response.status == 404
    response, _ = await call("DELETE", f"/customers/{missing}", **{"If-Match": '"x"'})
    assert response.status == 404


@pytest.mark.parametrize(
    "delete_path", ["/customers/{id}", "/customers/del-ref/ref", "/customers?id={id}"]
)
async def test_delete_honours_if_match(call, delete_path):
    customer, tag = await _create(call, customerRef="del-ref")
    path = delete_path.format(id=customer["id"])
    await call("PUT", f"/customers/id={customer['id']}", {"firstName": "Changed"})
    response, _ = await call("DELETE", path, **{"If-Match": tag})
    assert response.status == 412
    response, _ = await call("GET", f"/customers/{customer['id']}")
    assert response.status == 200
    response, _ = await call("DELETE", path, **{"If-Match": response.headers["ETag"]})
    assert response.status == 204
    response, _ = await call("GET", f"/customers/{customer['id']}")
    assert response.status == 404


async def test_address_delete_honours_if_match(call):
    customer, tag = await _create(call, addresses=[{"address1": "1 Road", "countryCode": "GB"}])
    address_id = customer["addresses"][0]["id"]
    await call("PUT", f"/customers/id={customer['id']}", {"firstName": "Changed"})
    path = f"/customers/{customer['id']}/address/{address_id}"
    response, _ = await call("DELETE", path, **{"If-Match": tag})
    assert response.status == 412
    response, _ = await call("GET", f"/customers/{customer['id']}")
    assert len((await response.json())["addresses"]) == 1


async def test_if_match_is_checked_against_the_locked_row(call, monkeypatch):
    """Two writers holding the same tag, racing: exactly one wins, the other gets 412. The
    check runs after the row lock is taken, so the loser sees the winner's version."""
    customer, tag = await _create(call)
    path = f"/customers/id={customer['id']}"
    # Hold the first writer inside its transaction until the second is waiting on the lock.
    both_in = asyncio.Event()
    arrivals = 0
    real_find = service_module.CustomerService._find

    async def find_then_wait(conn, tenant, identifier, *, for_update=False):
        nonlocal arrivals
        arrivals += 1
        if arrivals == 2:
            both_in.set()
        if arrivals == 1:
            record = await real_find(conn, tenant, identifier, for_update=for_update)
            await both_in.wait()
            await asyncio.sleep(0)  # let the second reach its (blocked) row lock
            return record
        return await real_find(conn, tenant, identifier, for_update=for_update)

    monkeypatch.setattr(service_module.CustomerService, "_find", staticmethod(find_then_wait))
    results = await asyncio.gather(
        call("PUT", path, {"firstName": "One"}, **{"If-Match": tag}),
        call("PUT", path, {"firstName": "Two"}, **{"If-Match": tag}),
    )
    statuses = sorted(response.status for response, _ in results)
    assert statuses == [200, 412]
    winner = next(text for response, text in results if response.status == 200)
    monkeypatch.undo()
    response, _ = await call("GET", f"/customers/{customer['id']}")
    assert (await response.json())["firstName"] in winner
