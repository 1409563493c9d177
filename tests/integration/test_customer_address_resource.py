"""GET /customers/{id}/address, PUT /customers/{id}/address/{addressId} and the addressID alias
(API.md §7), against real PostgreSQL."""

from __future__ import annotations

import uuid


async def test_get_lists_the_addresses_as_the_customer_renders_them(calls):
    customer = await calls.create(
        email="a@x.com", addresses=[{"city": "Leeds"}, {"city": "York", "defaultAddress": True}]
    )
    status, addresses = await calls.call("GET", f"/customers/{customer['id']}/address")
    assert (status, addresses) == (200, customer["addresses"])
    bare = await calls.create(email="b@x.com")
    assert (await calls.call("GET", f"/customers/{bare['id']}/address")) == (200, [])


async def test_put_merges_into_one_address_and_keeps_its_id(calls):
    customer = await calls.create(
        email="p@x.com", addresses=[{"city": "Leeds", "postcode": "LS1"}, {"city": "York"}]
    )
    leeds, york = customer["addresses"]
    status, updated = await calls.call(
        "PUT",
        f"/customers/{customer['id']}/address/{leeds['id']}",
        {"address1": "1 High St", "postcode": None, "id": "ignored", "customerId": "ignored"},
    )
    assert status == 200, updated
    changed, untouched = updated["addresses"]
    assert changed["id"] == leeds["id"]
    assert (changed["city"], changed["address1"], changed["postcode"]) == (
        "Leeds",
        "1 High St",
        None,
    )
    assert untouched == york
    assert updated["lastModifiedDate"] >= customer["lastModifiedDate"]


async def test_put_as_default_demotes_the_previous_default(calls):
    customer = await calls.create(
        email="d@x.com", addresses=[{"city": "A", "defaultAddress": True}, {"city": "B"}]
    )
    _first, second = customer["addresses"]
    status, updated = await calls.call(
        "PUT", f"/customers/{customer['id']}/address/{second['id']}", {"defaultAddress": True}
    )
    assert status == 200
    assert [a["defaultAddress"] for a in updated["addresses"]] == [False, True]
    assert updated["defaultAddress"]["id"] == second["id"]


async def test_put_on_an_unknown_address_or_customer_is_404(calls):
    customer = await calls.create(email="u@x.com", addresses=[{"city": "A"}])
    address_id = customer["addresses"][0]["id"]
    for path in (
        f"/customers/{customer['id']}/address/{uuid.uuid4()}",
        f"/customers/{uuid.uuid4()}/address/{address_id}",
        f"/customers/nope/address/{address_id}",
    ):
        status, _ = await calls.call("PUT", path, {"city": "B"})
        assert status == 404, path
    assert (await calls.call("GET", f"/customers/{uuid.uuid4()}/address"))[0] == 404


async def test_put_validates_the_address(calls):
    customer = await calls.create(email="v@x.com", addresses=[{"city": "A"}])
    address_id = customer["addresses"][0]["id"]
    status, problem = await calls.call(
        "PUT", f"/customers/{customer['id']}/address/{address_id}", {"countryCode": "XX"}
    )
    assert status == 400 and "countryCode" in problem["errors"]


async def test_address_id_alias_keeps_the_address_in_a_put(calls):
    customer = await calls.create(email="alias@x.com", addresses=[{"city": "Old"}])
    address_id = customer["addresses"][0]["id"]
    status, updated = await calls.call(
        "PUT",
        f"/customers/id={customer['id']}",
        {"addresses": [{"addressID": address_id, "city": "New"}]},
    )
    assert status == 200
    assert [(a["id"], a["city"]) for a in updated["addresses"]] == [(address_id, "New")]
    # `id` wins over addressID when both are sent.
    status, updated = await calls.call(
        "PUT",
        f"/customers/id={customer['id']}",
        {"addresses": [{"id": address_id, "addressID": "other", "city": "Newer"}]},
    )
    assert [(a["id"], a["city"]) for a in updated["addresses"]] == [(address_id, "Newer")]
