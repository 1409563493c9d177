"""Writable fields are validated strictly (API.md §1) alike on create, validate and update: the
values an audit found accepted by lax parsing are 400s naming the field."""

from __future__ import annotations

import pytest

API = "/api/v2"

# (field sent, the path named in `errors`, its message)
LAX_VALUES = [
    ({"customerRef": ""}, "customerRef", "Must not be empty."),
    ({"alternateCustomerRef": ""}, "alternateCustomerRef", "Must not be empty."),
    ({"vipStatus": "true"}, "vipStatus", "Not a valid boolean."),
    ({"active": "false"}, "active", "Not a valid boolean."),
    ({"spendToNextTier": 12.5}, "spendToNextTier", "Not a valid string."),
    ({"dob": "5-1-1985"}, "dob", "Must be a date in dd-mm-yyyy format."),
    ({"memberSince": "05-1-2020"}, "memberSince", "Must be a date in dd-mm-yyyy format."),
    ({"addresses": [{"id": 5}]}, "addresses.0.id", "Not a valid string."),
]
IDS = [path for _, path, _ in LAX_VALUES]


@pytest.mark.parametrize(("field", "path", "message"), LAX_VALUES, ids=IDS)
async def test_create_validate_and_update_refuse_lax_values(calls, field, path, message):
    body = {"email": "strict@example.com", **field}
    for route in ("/customers", "/customers/validate"):
        status, problem = await calls.call("POST", route, body)
        assert (status, problem["errors"]) == (400, {path: [message]}), route
    status, created = await calls.call("POST", "/customers", {"email": "strict@example.com"})
    assert status == 201, created
    status, problem = await calls.call("PUT", f"/customers/id={created['id']}", field)
    assert (status, problem["errors"]) == (400, {path: [message]})


async def test_read_only_fields_are_still_ignored_whatever_they_hold(calls):
    """The tolerant reader is unchanged: server-managed fields sent back are not validated."""
    body = {
        "email": "tolerant@example.com", "customerId": {}, "lifetimeOrderValue": 12.5,
        "totalOrders": "many", "addresses": [{"city": "Perth", "customerId": 5}],
    }  # fmt: skip
    status, created = await calls.call("POST", "/customers", body)
    assert status == 201, created
    assert created["addresses"][0]["customerId"] == created["id"]


async def test_strict_values_are_stored_as_sent(calls):
    body = {
        "email": "kept@example.com", "customerRef": "R", "vipStatus": True,
        "spendToNextTier": "12.50", "dob": "05-01-1985",
    }  # fmt: skip
    status, created = await calls.call("POST", "/customers", body)
    assert status == 201, created
    assert {k: created[k] for k in body} == body
