"""A PUT that changes nothing a client can see is no change (API.md §3: lastModifiedDate moves on
every change, and only then); addresses render every field of API.md §3, in its order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.amqp import CUSTOMER_UPDATED
from shared.customers.rules import merge_customer
from tests.support.customer_calls import CustomerCalls

API = "/api/v2"
# API.md §3, Address, in the documented order.
ADDRESS_FIELDS = [
    "id", "addressRef", "addressName", "address1", "address2", "city", "company", "country",
    "countryCode", "province", "provinceCode", "postcode", "phone", "email", "firstName",
    "lastName", "name", "customerId", "defaultAddress",
]  # fmt: skip
DEFAULT_OPTINS = {
    "email": {"opt_in_active": False, "opted_in_at": None, "opt_in_updated_at": None},
    "sms": {"opt_in_active": False, "opted_in_at": None, "opt_in_updated_at": None},
}
# PUT bodies that only restate what a customer created from just an email already is.
DEFAULT_VALUE_PUTS = [
    {"active": True},
    {"customer_state": "enabled"},
    {"taxExemptions": []},
    {"optin_preferences": DEFAULT_OPTINS},
    {"optin_preferences": {"email": {"opt_in_active": False}}},
    {"optin_preferences": None},
    {"attributeGroups": {}},
    {"addresses": []},
    {"firstName": None, "dob": None, "accepts_marketing": None},
]


@pytest.fixture
def api(customer_client, headers, unique_tenant, pool, clock):
    """Calls as the test tenant returning (status, body), and the tenant's outbox events."""

    class Api(CustomerCalls):
        def tick(self) -> None:
            """Move the service's clock a few milliseconds, so a wrongly moved
            lastModifiedDate shows."""
            clock.advance(milliseconds=3)

        async def updated_events(self) -> int:
            """customer.updated rows in the outbox for this tenant (sent or not)."""
            return await pool.fetchval(
                "SELECT count(*) FROM customer.outbox WHERE tenant_id = $1 AND routing_key = $2",
                unique_tenant,
                CUSTOMER_UPDATED,
            )

    return Api(customer_client, headers)


async def test_get_body_put_back_changes_nothing(api):
    """The audit's case: a minimal customer's GET body PUT back is 200 and no change."""
    created = await api.create(email="noop2@x.com")
    fetched = await api.get(created["id"])
    api.tick()
    status, body = await api.call("PUT", "/customers", fetched)
    assert (status, body) == (200, fetched)
    assert await api.get(created["id"]) == fetched
    assert await api.updated_events() == 0


@pytest.mark.parametrize("change", DEFAULT_VALUE_PUTS, ids=lambda c: ",".join(c))
async def test_put_of_default_values_changes_nothing(api, change):
    """Defaults are not stored, yet sending them explicitly is still no change."""
    created = await api.create(email="defaults@example.com")
    api.tick()
    status, body = await api.call("PUT", "/customers", {"id": created["id"], **change})
    assert (status, body) == (200, created)
    assert await api.get(created["id"]) == created
    assert await api.updated_events() == 0


async def test_real_change_moves_last_modified_and_emits_one_event(api):
    """A change bumps lastModifiedDate and writes exactly one customer.updated; repeating it
    (or PUTting its result back) is then no change."""
    created = await api.create(email="change@example.com")
    api.tick()
    status, changed = await api.call(
        "PUT", "/customers", {"id": created["id"], "firstName": "Ann", "active": False}
    )
    assert status == 200, changed
    assert (changed["firstName"], changed["active"]) == ("Ann", False)
    assert changed["lastModifiedDate"] > created["lastModifiedDate"]
    assert changed["createdDate"] == created["createdDate"]
    assert await api.updated_events() == 1
    api.tick()
    for again in ({"id": created["id"], "firstName": "Ann", "active": False}, changed):
        assert await api.call("PUT", "/customers", again) == (200, changed)
    assert await api.updated_events() == 1
    # Back to the default is a change like any other.
    status, restored = await api.call("PUT", "/customers", {"id": created["id"], "active": None})
    assert restored["active"] is True and restored["lastModifiedDate"] > changed["lastModifiedDate"]
    assert await api.updated_events() == 2


async def test_server_timestamps_stay_when_opt_ins_and_marketing_do(api):
    """Opt-in and marketing timestamps move only when the opt-in or marketing fields change."""
    created = await api.create(
        email="optin@example.com",
        accepts_marketing=True,
        marketing_optin_level="single_opt_in",
        optin_preferences={"email": {"opt_in_active": True}},
    )
    assert created["optin_preferences"]["email"]["opted_in_at"] is not None
    assert created["marketing_preferences_updated_at"] is not None
    api.tick()
    for change in (
        created,
        {"optin_preferences": {"email": {"opt_in_active": True}, "sms": {"opt_in_active": False}}},
        {"optin_preferences": {"email": {"opt_in_active": True, "opted_in_at": "2001-01-01"}}},
        {"accepts_marketing": True, "marketing_optin_level": "single_opt_in"},
        {"marketing_preferences_updated_at": "2001-01-01T00:00:00.000Z"},
    ):
        status, body = await api.call("PUT", f"/customers/id={created['id']}", change)
        assert (status, body) == (200, created), change
    assert await api.updated_events() == 0
    status, off = await api.call(
        "PUT", f"/customers/id={created['id']}", {"optin_preferences": {"email": {}}}
    )
    assert off == created
    status, off = await api.call(
        "PUT",
        f"/customers/id={created['id']}",
        {"optin_preferences": {"email": {"opt_in_active": False}}},
    )
    email = off["optin_preferences"]["email"]
    assert email["opt_in_active"] is False
    assert email["opted_in_at"] == created["optin_preferences"]["email"]["opted_in_at"]
    assert email["opt_in_updated_at"] == off["lastModifiedDate"] > created["lastModifiedDate"]
    assert off["marketing_preferences_updated_at"] == created["marketing_preferences_updated_at"]
    assert await api.updated_events() == 1


async def test_addresses_render_every_field_in_documented_order(api):
    """A sparse address renders all of API.md's fields, null where unset, in its order."""
    created = await api.create(
        email="addr-shape@example.com",
        addresses=[{"city": "Leeds", "address1": "1 Lane", "postcode": "LS1", "countryCode": "gb"}],
    )
    status, body = await api.call(
        "POST", f"/customers/{created['id']}/address", {"city": "Hull", "addressName": None}
    )
    assert status == 200, body
    first, second = body["addresses"]
    for address in (first, second, body["defaultAddress"]):
        assert list(address) == ADDRESS_FIELDS
        assert address["customerId"] == created["id"]
    assert first == {
        **dict.fromkeys(ADDRESS_FIELDS),
        "id": first["id"],
        "address1": "1 Lane",
        "city": "Leeds",
        "countryCode": "GB",
        "postcode": "LS1",
        "customerId": created["id"],
        "defaultAddress": False,
    }
    assert second == {
        **dict.fromkeys(ADDRESS_FIELDS),
        "id": second["id"],
        "city": "Hull",
        "customerId": created["id"],
        "defaultAddress": False,
    }
    assert body["defaultAddress"] == first  # none flagged: the first


async def test_get_body_with_null_address_fields_validates_and_puts_back_unchanged(api):
    """Tolerant reader: the nulls of a rendered address are accepted and change nothing,
    whether the address keeps its id or is matched field for field."""
    created = await api.create(
        email="addr-back@example.com",
        addresses=[{"city": "A", "countryCode": "AU"}, {"city": "B", "defaultAddress": True}],
    )
    fetched = await api.get(created["id"])
    assert await api.call("POST", "/customers/validate", fetched) == (200, {"valid": True})
    api.tick()
    assert await api.call("PUT", f"/customers/id={created['id']}", fetched) == (200, fetched)
    without_ids = [{k: v for k, v in a.items() if k != "id"} for a in fetched["addresses"]]
    status, body = await api.call(
        "PUT", "/customers", {"id": created["id"], "addresses": without_ids}
    )
    assert (status, body) == (200, fetched)
    assert await api.get(created["id"]) == fetched
    assert await api.updated_events() == 0
    # Clearing a field of an address is a change, and renders as null again.
    changed_addresses = [{**fetched["addresses"][0], "countryCode": None}, fetched["addresses"][1]]
    status, body = await api.call(
        "PUT", "/customers", {"id": created["id"], "addresses": changed_addresses}
    )
    assert status == 200, body
    assert body["addresses"][0] == {**fetched["addresses"][0], "countryCode": None}
    assert body["addresses"][1] == fetched["addresses"][1]
    assert body["lastModifiedDate"] > fetched["lastModifiedDate"]
    assert await api.updated_events() == 1


def test_merge_of_defaults_keeps_the_stored_state():
    """The rule the importer shares: a merge that changes nothing visible returns the stored
    state as it was, so re-importing explicit defaults writes nothing either."""
    now = datetime(2024, 5, 1, tzinfo=UTC)
    stored = {"email": "x@example.com", "addresses": [{"id": "a1", "city": "C"}]}
    for change in (c for c in DEFAULT_VALUE_PUTS if "addresses" not in c):
        assert merge_customer(stored, change, now=now) == stored, change
    same_address = {"addresses": [{"city": "C", "country": None, "defaultAddress": False}]}
    assert merge_customer(stored, same_address, now=now) == stored
    assert merge_customer(stored, {"active": False}, now=now) == {**stored, "active": False}
