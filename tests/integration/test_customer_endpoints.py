"""Every customer endpoint of the API, in-process against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from pathlib import Path

SEED_REQUEST = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "seed_customer_request.json").read_text()
)


async def test_seed_sample_create_and_update_are_answered_field_by_field(calls):
    """The seed's sample create payload round-trips; read-only garbage in it is ignored."""
    status, created = await calls.call("POST", "/customers", copy.deepcopy(SEED_REQUEST))
    assert status == 201, created
    assert created["id"] != "string"
    for field in ("customerRef", "email", "firstName", "lastName", "mobile", "phone", "dob",
                  "customer_state", "active", "verified_email", "taxExempt", "taxExemptions",
                  "accepts_marketing", "marketing_optin_level", "attributeGroups"):  # fmt: skip
        assert created[field] == SEED_REQUEST[field], field
    assert created["createdDate"] != SEED_REQUEST["createdDate"]
    assert created["marketing_preferences_updated_at"] != "2022-06-20T06:21:32.358Z"
    [address] = created["addresses"]
    assert address["id"] != "string"
    assert address["customerId"] == created["id"]
    assert address["defaultAddress"] is True
    expected_address = {
        k: v for k, v in SEED_REQUEST["addresses"][0].items() if k not in ("id", "customerId")
    }
    assert {k: address[k] for k in expected_address} == expected_address
    assert created["defaultAddress"] == address
    email_optin = created["optin_preferences"]["email"]
    assert email_optin["opt_in_active"] is True
    assert email_optin["opted_in_at"] == email_optin["opt_in_updated_at"] == created["createdDate"]
    assert created["optin_preferences"]["sms"] == {
        "opt_in_active": False, "opted_in_at": None, "opt_in_updated_at": None,
    }  # fmt: skip
    # The seed's update: the same body PUT back by id changes nothing but what differs.
    update = {**copy.deepcopy(SEED_REQUEST), "id": created["id"], "firstName": "Janet"}
    status, updated = await calls.call("PUT", "/customers", update)
    assert status == 200, updated
    assert updated["firstName"] == "Janet"
    assert updated["addresses"][0]["id"] == address["id"]
    assert updated["createdDate"] == created["createdDate"]
    assert updated["lastModifiedDate"] > created["lastModifiedDate"]


async def test_get_body_put_back_unchanged_changes_nothing(calls):
    """Tolerant reader: a GET body PUT back is accepted and leaves lastModifiedDate alone."""
    created = await calls.create(**copy.deepcopy(SEED_REQUEST))
    status, fetched = await calls.call("GET", f"/customers/{created['id']}")
    status, again = await calls.call("PUT", f"/customers/id={created['id']}", fetched)
    assert status == 200
    assert again == fetched


async def test_read_by_each_identifier(calls):
    """id, customerRef, email (any case) and alternateCustomerRef all find the customer."""
    created = await calls.create(
        email="Find.Me@Example.com", customerRef="R/1 x", alternateCustomerRef="ALT+1"
    )
    for path in (
        f"/customers/{created['id']}",
        "/customers/R%2F1%20x/ref",
        "/customers/find.me@example.COM/email",
        "/customers/ALT+1/alternateCustomerRef",
    ):
        status, body = await calls.call("GET", path)
        assert status == 200, path
        assert body["id"] == created["id"]
    for path in ("/customers/nope/ref", "/customers/no@example.com/email",
                 "/customers/nope/alternateCustomerRef", f"/customers/{uuid.uuid4()}"):  # fmt: skip
        assert (await calls.call("GET", path))[0] == 404, path


async def test_search_matches_every_given_criterion(calls):
    """AND of criteria, email case-insensitive, [] when none, 400 without criteria."""
    a = await calls.create(email="s1@example.com", firstName="Sam", lastName="Stone", mobile="1")
    await calls.create(email="s2@example.com", firstName="Sam", lastName="Other", mobile="1")
    status, found = await calls.call(
        "GET", "/customers/search", params={"firstName": "Sam", "lastName": "Stone"}
    )
    assert status == 200
    assert [c["id"] for c in found] == [a["id"]]
    status, found = await calls.call("GET", "/customers/search", params={"email": "S1@EXAMPLE.com"})
    assert [c["id"] for c in found] == [a["id"]]
    status, found = await calls.call("GET", "/customers/search", params={"mobile": "1"})
    assert len(found) == 2
    assert await calls.call("GET", "/customers/search", params={"lastName": "Nobody"}) == (200, [])
    status, problem = await calls.call("GET", "/customers/search")
    assert status == 400
    assert "_query" in problem["errors"]


async def test_put_resolves_id_then_customer_ref_then_email(calls):
    """PUT /customers finds the customer by the body's id, else customerRef, else email."""
    created = await calls.create(email="p@example.com", customerRef="P-1")
    by_ref = await calls.call("PUT", "/customers", {"customerRef": "P-1", "lastName": "Ref"})
    assert by_ref[0] == 200 and by_ref[1]["lastName"] == "Ref"
    by_email = await calls.call("PUT", "/customers", {"email": "P@EXAMPLE.COM", "lastName": "Mail"})
    assert by_email[0] == 200 and by_email[1]["id"] == created["id"]
    by_id = await calls.call(
        "PUT", "/customers", {"id": created["id"], "customerRef": "P-2", "lastName": "Id"}
    )
    assert by_id[1]["customerRef"] == "P-2"
    assert (await calls.call("PUT", "/customers", {"lastName": "x"}))[0] == 400
    assert (await calls.call("PUT", "/customers", {"customerRef": "none"}))[0] == 404


async def test_put_by_path_identifiers(calls):
    """PUT /customers/id=…, /customerRef=…, /email=… update that customer."""
    created = await calls.create(email="path@example.com", customerRef="PATH-1")
    for path, name in (
        (f"/customers/id={created['id']}", "A"),
        ("/customers/customerRef=PATH-1", "B"),
        ("/customers/email=PATH@example.com", "C"),
    ):
        status, body = await calls.call("PUT", path, {"firstName": name})
        assert (status, body["firstName"], body["id"]) == (200, name, created["id"])
    assert (await calls.call("PUT", "/customers/id=not-a-uuid", {"firstName": "x"}))[0] == 404


async def test_merge_semantics(calls):
    """Absent kept, null clears, addresses replace, attributeGroups merge per group."""
    created = await calls.create(
        email="m@example.com", firstName="Keep", lastName="Clear",
        attributeGroups={"g1": {"attributes": {"a": "1"}}, "g2": {"attributes": {"b": "2"}}},
        addresses=[{"city": "One", "countryCode": "GB"}],
    )  # fmt: skip
    status, body = await calls.call(
        "PUT",
        f"/customers/id={created['id']}",
        {
            "lastName": None,
            "attributeGroups": {"g1": None, "g3": {"attributes": {"c": "3"}}},
            "addresses": [{"city": "Two", "countryCode": "fr"}],
        },
    )
    assert status == 200
    assert body["firstName"] == "Keep"
    assert body["lastName"] is None
    assert body["attributeGroups"] == {
        "g2": {"attributes": {"b": "2"}}, "g3": {"attributes": {"c": "3"}},
    }  # fmt: skip
    assert [a["city"] for a in body["addresses"]] == ["Two"]
    assert body["addresses"][0]["countryCode"] == "FR"
    assert body["addresses"][0]["id"] != created["addresses"][0]["id"]


async def test_address_ids_are_stable_when_resent(calls):
    """An address sent again, with its id or field for field, keeps its id."""
    created = await calls.create(
        email="addr@example.com",
        addresses=[{"city": "A", "countryCode": "GB"}, {"city": "B", "countryCode": "GB"}],
    )
    first, second = created["addresses"]
    _, body = await calls.call(
        "PUT",
        f"/customers/id={created['id']}",
        {"addresses": [{"id": second["id"], "city": "B2"}, {"city": "A", "countryCode": "GB"}]},
    )
    assert [a["id"] for a in body["addresses"]] == [second["id"], first["id"]]
    assert body["addresses"][0]["city"] == "B2"


async def test_default_address_rules(calls):
    """One default at most: a new default demotes the old; none flagged → the first."""
    created = await calls.create(email="def@example.com", addresses=[{"city": "A"}, {"city": "B"}])
    assert created["defaultAddress"]["city"] == "A"
    assert [a["defaultAddress"] for a in created["addresses"]] == [False, False]
    status, body = await calls.call(
        "POST", f"/customers/{created['id']}/address", {"city": "C", "defaultAddress": True}
    )
    assert status == 200
    assert body["defaultAddress"]["city"] == "C"
    status, body = await calls.call(
        "POST", f"/customers/{created['id']}/address", {"city": "D", "defaultAddress": True}
    )
    assert [a["defaultAddress"] for a in body["addresses"]] == [False, False, False, True]
    assert body["defaultAddress"]["city"] == "D"


async def test_add_and_delete_address(calls):
    """Add answers the customer with the new address; delete removes it; unknown → 404."""
    created = await calls.create(email="ad@example.com")
    status, body = await calls.call(
        "POST", f"/customers/{created['id']}/address", {"city": "X", "countryCode": "NZ"}
    )
    assert status == 200
    [address] = body["addresses"]
    status, body = await calls.call("DELETE", f"/customers/{created['id']}/address/{address['id']}")
    assert (status, body["addresses"], body["defaultAddress"]) == (200, [], None)
    again = await calls.call("DELETE", f"/customers/{created['id']}/address/{address['id']}")
    assert again[0] == 404
    bad = await calls.call("POST", f"/customers/{created['id']}/address", {"countryCode": "ZZ"})
    assert bad[0] == 400 and "countryCode" in bad[1]["errors"]


async def test_at_most_fifty_addresses(calls):
    """A 51st address is refused, by create and by add."""
    many = [{"city": f"C{i}"} for i in range(50)]
    status, problem = await calls.call(
        "POST", "/customers", {"email": "many@example.com", "addresses": [*many, {"city": "x"}]}
    )
    assert status == 400 and "addresses" in problem["errors"]
    created = await calls.create(email="fifty@example.com", addresses=many)
    status, problem = await calls.call("POST", f"/customers/{created['id']}/address", {"city": "x"})
    assert status == 400 and problem["errors"] == {"addresses": ["At most 50 addresses."]}


async def test_optin_and_marketing_timestamps_are_the_servers(calls, clock):
    """opted_in_at on first activation, opt_in_updated_at on every change, client values ignored."""
    created = await calls.create(
        email="opt@example.com",
        optin_preferences={"sms": {"opt_in_active": False, "opted_in_at": "1999-01-01"}},
    )
    assert created["optin_preferences"]["sms"]["opted_in_at"] is None
    assert created["marketing_preferences_updated_at"] is None
    path = f"/customers/id={created['id']}"
    _, on = await calls.call("PUT", path, {"optin_preferences": {"sms": {"opt_in_active": True}}})
    sms = on["optin_preferences"]["sms"]
    assert sms["opt_in_active"] is True
    assert sms["opted_in_at"] == sms["opt_in_updated_at"] == on["lastModifiedDate"]
    clock.advance(milliseconds=2)  # distinct millisecond timestamps
    _, off = await calls.call("PUT", path, {"optin_preferences": {"sms": {"opt_in_active": False}}})
    assert off["optin_preferences"]["sms"]["opted_in_at"] == sms["opted_in_at"]
    assert off["optin_preferences"]["sms"]["opt_in_updated_at"] > sms["opt_in_updated_at"]
    _, marketed = await calls.call("PUT", path, {"accepts_marketing": True})
    assert marketed["marketing_preferences_updated_at"] == marketed["lastModifiedDate"]


async def test_uniqueness_on_update_names_the_field(calls):
    """Changing to another customer's customerRef or alternateCustomerRef is a 409."""
    await calls.create(email="u1@example.com", customerRef="U-1", alternateCustomerRef="UA-1")
    other = await calls.create(email="u2@example.com")
    path = f"/customers/id={other['id']}"
    for field, value in (("customerRef", "U-1"), ("alternateCustomerRef", "UA-1"),
                         ("email", "U1@example.com")):  # fmt: skip
        status, problem = await calls.call("PUT", path, {field: value})
        assert status == 409
        assert problem["errors"] == {field: ["already in use"]}


async def test_concurrent_creates_with_one_email_yield_one_customer(calls):
    """The database decides uniqueness: of 8 racing creates exactly one wins."""
    results = await asyncio.gather(
        *(calls.call("POST", "/customers", {"email": "race@example.com"}) for _ in range(8))
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 7


async def test_validate_stores_nothing(calls):
    """POST /customers/validate runs the same validation and stores nothing."""
    status, body = await calls.call("POST", "/customers/validate", {"email": "v@example.com"})
    assert (status, body) == (200, {"valid": True})
    assert (await calls.call("GET", "/customers/v@example.com/email"))[0] == 404
    status, problem = await calls.call("POST", "/customers/validate", {"dob": "31-02-1990"})
    assert status == 400
    assert set(problem["errors"]) == {"email", "dob"}


async def test_delete_by_ref_and_by_query(calls):
    """DELETE by {ref}/ref, ?id= and ?customerRef=; neither → 400; then 404 everywhere."""
    a = await calls.create(email="d1@example.com", customerRef="D-1")
    b = await calls.create(email="d2@example.com", customerRef="D-2")
    c = await calls.create(email="d3@example.com", customerRef="D-3")
    assert (await calls.call("DELETE", "/customers/D-1/ref"))[0] == 204
    assert (await calls.call("DELETE", "/customers", params={"id": b["id"]}))[0] == 204
    assert (await calls.call("DELETE", "/customers", params={"customerRef": "D-3"}))[0] == 204
    assert (await calls.call("DELETE", "/customers"))[0] == 400
    for customer in (a, b, c):
        assert (await calls.call("GET", f"/customers/{customer['id']}"))[0] == 404
        assert (await calls.call("GET", f"/customers/{customer['email']}/email"))[0] == 404
        assert (await calls.call("DELETE", f"/customers/{customer['id']}"))[0] == 404
    assert (await calls.call("GET", "/customers/D-1/ref"))[0] == 404
    reused = await calls.create(email="d1@example.com", customerRef="D-1")
    assert reused["id"] != a["id"]
