"""Every endpoint family of API.md §3 end to end, through the gateway only, called the way TWC's
JavaScript SDK calls them: public paths, path values encoded like encodeURIComponent, sometimes a
trailing slash, `Authorization` and `X-TWC-Tenant` on every call."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from yarl import URL

from tests.e2e.conftest import obtain_client

API = "/services/customerservice/api/v2"
SEED = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "seed_v2_samples.json").read_text(encoding="utf-8")
)
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# Server-owned: never equal before and after an update by coincidence of the test.
_MOVING = {"lastModifiedDate", "marketing_preferences_updated_at"}


def enc(value: str) -> str:
    """What the SDK's encodeURIComponent makes of a path value."""
    return quote(value, safe="!~*'()")


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    content_type: str


@dataclass(frozen=True)
class Api:
    """One tenant's calls to the customer API through the gateway."""

    http: aiohttp.ClientSession
    base: str
    headers: dict[str, str]

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        **query: str,
    ) -> Reply:
        # encoded=True: the path goes out exactly as written (the SDK's own encoding).
        url = URL(self.base + API + path, encoded=True)
        if query:
            url = url.with_query(query)
        async with self.http.request(
            method, url, json=body, headers=headers or self.headers
        ) as response:
            text = await response.text()
            return Reply(response.status, json.loads(text) if text else None, response.content_type)

    async def create(self, path: str = "/customers", **fields: Any) -> dict[str, Any]:
        reply = await self.call("POST", path, fields)
        assert reply.status == 201, reply.body
        return reply.body

    async def status(self, method: str, path: str, body: Any = None, **query: str) -> int:
        return (await self.call(method, path, body, **query)).status


@pytest.fixture
def api(running_suite, http, client) -> Api:
    return Api(http, running_suite.base_url, client.headers)


def assert_not_found(reply: Reply) -> None:
    assert reply.status == 404, reply.body
    assert reply.content_type == "application/problem+json"
    assert reply.body["status"] == 404


def assert_merged(before: dict, after: dict, changes: dict) -> None:
    """Update = merge: every field sent has the sent value, every other field is as before
    (attributeGroups: the named groups replaced, the others kept)."""
    for field, value in changes.items():
        if field == "attributeGroups":
            expected = {**before["attributeGroups"], **value}
            assert after[field] == {k: v for k, v in expected.items() if v is not None}
        else:
            assert after[field] == value, field
    for field in before.keys() - changes.keys() - _MOVING:
        assert after[field] == before[field], field
    assert after["createdDate"] == before["createdDate"]
    assert after["lastModifiedDate"] > before["lastModifiedDate"]


# ------------------------------------------------------------------------------------ create


async def test_create_with_and_without_trailing_slash(api):
    """Both answer 201 with the full representation, which a read by id returns unchanged."""
    plain = await api.create(
        email="Plain@Example.com", customerRef="C-1", firstName="Pat", dob="29-02-1996"
    )
    slashed = await api.create("/customers/", email="slash@example.com", customerRef="C-2")
    for created in (plain, slashed):
        assert uuid.UUID(created["id"])
        assert ISO_MS.fullmatch(created["createdDate"])
        assert created["lastModifiedDate"] == created["createdDate"]
        assert (created["customer_state"], created["active"], created["deleted"]) == (
            "enabled", True, False,
        )  # fmt: skip
        assert created["optin_preferences"]["sms"]["opt_in_active"] is False
        assert created["addresses"] == [] and created["defaultAddress"] is None
        read = await api.call("GET", f"/customers/{created['id']}")
        assert (read.status, read.body) == (200, created)
    assert (plain["email"], plain["customerRef"], plain["firstName"], plain["dob"]) == (
        "Plain@Example.com", "C-1", "Pat", "29-02-1996",
    )  # fmt: skip
    assert slashed["customerRef"] == "C-2"
    invalid = await api.call("POST", "/customers/", {"firstName": "No email"})
    assert invalid.status == 400 and invalid.content_type == "application/problem+json"
    assert "email" in invalid.body["errors"]


# -------------------------------------------------------------------------------------- read


async def test_read_by_each_identifier_as_the_sdk_encodes_it(api):
    """id, customerRef, email (any case) and alternateCustomerRef each find the customer,
    with reserved characters percent-encoded in the path; unknown values are 404."""
    created = await api.create(
        email="Ann.Lee+vip@Example.com", customerRef="REF/1 ä", alternateCustomerRef="ALT#1?&"
    )
    for path in (
        f"/customers/{created['id']}",
        f"/customers/{created['id']}/",
        f"/customers/{enc('REF/1 ä')}/ref",
        f"/customers/{enc('ann.lee+vip@example.com')}/email",
        f"/customers/{enc('ANN.LEE+VIP@EXAMPLE.COM')}/email",
        "/customers/Ann.Lee+vip@Example.com/email",  # unencoded, as a hand-written URL would be
        f"/customers/{enc('ALT#1?&')}/alternateCustomerRef",
    ):
        reply = await api.call("GET", path)
        assert (reply.status, reply.body) == (200, created), path
    for path in (
        f"/customers/{uuid.uuid4()}",
        "/customers/not-a-uuid",
        "/customers/REF%2F2/ref",
        f"/customers/{enc('ann.lee@example.com')}/email",
        "/customers/ALT-none/alternateCustomerRef",
    ):
        assert_not_found(await api.call("GET", path))


# --------------------------------------------------------------------------------------- PUT


async def test_put_variants_merge_absent_kept_null_cleared(api):
    """PUT /customers (by body id, customerRef, email), /customers/id=, /customerRef=, /email=:
    each updates the one customer with merge semantics; the last answer is what a GET reads."""
    current = await api.create(
        email="merge@example.com", customerRef="M-1", firstName="Mia", lastName="Moss",
        mobile="+61 400 000 001", phone="+61 2 0000 0001", loyaltyTier="gold",
        attributeGroups={"g1": {"attributes": {"a": "1"}}, "g2": {"attributes": {"b": "2"}}},
        addresses=[{"city": "Perth", "countryCode": "AU"}],
    )  # fmt: skip
    customer_id = current["id"]
    steps = [
        ("PUT", "/customers", {"id": customer_id, "lastName": "Marsh"}),
        ("PUT", "/customers/", {"customerRef": "M-1", "mobile": None}),
        ("PUT", "/customers", {"email": "MERGE@example.COM", "loyaltyTier": None}),
        ("PUT", f"/customers/id={customer_id}", {"firstName": None, "phone": "+61 2 0000 0002"}),
        ("PUT", "/customers/customerRef=M-1", {"customerRef": "M/2", "alternateCustomerRef": "A"}),
        ("PUT", f"/customers/customerRef={enc('M/2')}", {"attributeGroups": {"g1": None}}),
        ("PUT", f"/customers/email={enc('merge@example.com')}", {"email": "moved@example.com"}),
        ("PUT", f"/customers/email={enc('MOVED@EXAMPLE.COM')}", {"dob": "01-02-1990"}),
    ]
    for method, path, changes in steps:
        reply = await api.call(method, path, changes)
        assert reply.status == 200, (path, reply.body)
        assert reply.body["id"] == customer_id
        # An identifier that finds the customer is also a value: an email in another case
        # is stored as sent.
        assert_merged(current, reply.body, changes)
        current = reply.body
    assert (current["firstName"], current["lastName"], current["mobile"]) == (None, "Marsh", None)
    assert current["attributeGroups"] == {"g2": {"attributes": {"b": "2"}}}
    assert [a["city"] for a in current["addresses"]] == ["Perth"]
    assert (await api.call("GET", f"/customers/{customer_id}")).body == current
    # The old identifiers name nobody now; the new ones find the customer.
    assert_not_found(await api.call("GET", "/customers/M-1/ref"))
    assert_not_found(await api.call("GET", f"/customers/{enc('merge@example.com')}/email"))
    assert (await api.call("GET", f"/customers/{enc('M/2')}/ref")).body["id"] == customer_id
    # Nothing names a customer → 400; a name that matches nobody → 404.
    missing = await api.call("PUT", "/customers", {"firstName": "x"})
    assert missing.status == 400 and "id" in missing.body["errors"]
    assert_not_found(await api.call("PUT", "/customers", {"customerRef": "nobody"}))
    assert_not_found(await api.call("PUT", f"/customers/id={uuid.uuid4()}", {"firstName": "x"}))
    assert_not_found(await api.call("PUT", "/customers/customerRef=nobody", {"firstName": "x"}))
    assert_not_found(await api.call("PUT", "/customers/email=no%40example.com", {"phone": "1"}))
    invalid = await api.call("PUT", f"/customers/id={customer_id}", {"dob": "31-02-1990"})
    assert invalid.status == 400 and "dob" in invalid.body["errors"]
    assert (await api.call("GET", f"/customers/{customer_id}")).body == current


async def test_seed_sample_create_and_update_payloads(api):
    """TWC's v2 samples (seeds/001): the create request answers field by field like the sample
    response; the update sample, by customerRef and by email, merges field by field."""
    sample_response = SEED["create_response"]
    created = await api.create(**SEED["create_request"])
    checked = {
        "email", "customerRef", "firstName", "lastName", "mobile", "phone", "dob",
        "attributeGroups",
    }  # fmt: skip
    for field in checked:
        assert created[field] == sample_response[field], field
    [address] = created["addresses"]
    for field, value in sample_response["addresses"][0].items():
        assert address[field] == value, field
    assert uuid.UUID(address["id"]) and address["customerId"] == created["id"]
    assert created["defaultAddress"] == address  # none flagged: the first
    assert uuid.UUID(created["id"]) != uuid.UUID(sample_response["id"])
    # The sample shows the email channel inactive although the request activates it (a slip in
    # the seed); API.md decides: active, with the server's timestamps.
    email_optin = created["optin_preferences"]["email"]
    assert email_optin["opt_in_active"] is True
    assert email_optin["opted_in_at"] == email_optin["opt_in_updated_at"] == created["createdDate"]
    assert created["optin_preferences"]["sms"]["opt_in_active"] is False
    not_compared = {"id", "addresses", "optin_preferences"}
    assert set(sample_response) == checked | not_compared
    # The update sample's response adds the defaults of what was never sent.
    for field in ("customer_state", "active", "taxExemptions"):
        assert created[field] == SEED["update_response"][field], field

    update = SEED["update_request"]
    by_ref = await api.call("PUT", f"/customers/customerRef={created['customerRef']}", update)
    assert by_ref.status == 200, by_ref.body
    # The sample response keeps the old email, phone and description (another slip); a PUT
    # may change them (API.md §3), so the request's values are what must come back.
    assert by_ref.body["customerRef"] == SEED["update_response"]["customerRef"]
    assert_merged(created, by_ref.body, update)
    assert (await api.call("GET", f"/customers/{created['id']}")).body == by_ref.body

    # The sample's identifiers are free again (renamed away); the "Update customer by email"
    # sample has the same body. Its email and customerRef are the first customer's now: 409
    # naming one of them (the database reports the first unique index it finds violated).
    again = await api.create(**SEED["create_request"])
    by_email_path = f"/customers/email={enc(SEED['create_request']['email'])}"
    taken = await api.call("PUT", by_email_path, update)
    assert taken.status == 409
    assert taken.body["errors"] in (
        {"email": ["already in use"]},
        {"customerRef": ["already in use"]},
    )
    assert await api.status("DELETE", f"/customers/{created['id']}") == 204
    by_email = await api.call("PUT", by_email_path, update)
    assert by_email.status == 200, by_email.body
    assert by_email.body["id"] == again["id"]
    assert_merged(again, by_email.body, update)


# ---------------------------------------------------------------------------------- validate


async def test_validate_stores_nothing(api):
    """200 {"valid": true} for a valid customer, 400 naming each invalid field; nothing is
    stored either way, so the same identifiers can then be created."""
    body = {"email": "valid@example.com", "customerRef": "V-1", "dob": "01-01-1990"}
    for path in ("/customers/validate", "/customers/validate/"):
        reply = await api.call("POST", path, body)
        assert (reply.status, reply.body) == (200, {"valid": True})
    assert_not_found(await api.call("GET", "/customers/valid%40example.com/email"))
    assert_not_found(await api.call("GET", "/customers/V-1/ref"))
    assert (await api.call("GET", "/customers/search", email="valid@example.com")).body == []
    invalid = await api.call(
        "POST", "/customers/validate", {"email": "nope", "dob": "31-02-1990", "mobile": 7}
    )
    assert invalid.status == 400 and invalid.content_type == "application/problem+json"
    assert set(invalid.body["errors"]) == {"email", "dob", "mobile"}
    created = await api.create(**body)
    assert created["customerRef"] == "V-1"


# --------------------------------------------------------------------------------- addresses


async def test_addresses_add_and_delete(api):
    """Add answers the customer with the new address (a new default demotes the old); delete
    removes it (the first address becomes the default again); unknown ones are 404."""
    created = await api.create(
        email="addr@example.com", addresses=[{"city": "Hobart", "countryCode": "AU"}]
    )
    customer_id = created["id"]
    [first] = created["addresses"]
    added = await api.call(
        "POST",
        f"/customers/{customer_id}/address",
        {"city": "Auckland", "countryCode": "nz", "defaultAddress": True, "addressRef": "H-2"},
    )
    assert added.status == 200, added.body
    kept, new = added.body["addresses"]
    assert kept == {**first, "defaultAddress": False}
    assert (new["city"], new["countryCode"], new["addressRef"]) == ("Auckland", "NZ", "H-2")
    assert new["defaultAddress"] is True and new["customerId"] == customer_id
    assert uuid.UUID(new["id"]) and new["id"] != first["id"]
    assert added.body["defaultAddress"] == new
    assert added.body["lastModifiedDate"] > created["lastModifiedDate"]
    assert (await api.call("GET", f"/customers/{customer_id}")).body == added.body

    removed = await api.call("DELETE", f"/customers/{customer_id}/address/{new['id']}")
    assert removed.status == 200, removed.body
    assert removed.body["addresses"] == [kept]
    assert removed.body["defaultAddress"] == kept
    assert (await api.call("GET", f"/customers/{customer_id}")).body == removed.body
    assert_not_found(await api.call("DELETE", f"/customers/{customer_id}/address/{new['id']}"))
    assert_not_found(await api.call("POST", f"/customers/{uuid.uuid4()}/address", {"city": "x"}))
    bad = await api.call("POST", f"/customers/{customer_id}/address", {"countryCode": "ZZ"})
    assert bad.status == 400 and "countryCode" in bad.body["errors"]


# ------------------------------------------------------------------------------------ search


async def test_search_matches_every_given_criterion(api):
    """AND of the criteria (email case-insensitively), oldest first; [] when none match; 400
    without a criterion; deleted customers are not found."""
    ann = await api.create(
        email="ann@example.com", firstName="Ann", lastName="Smith", mobile="0400 1", phone="9"
    )
    bob = await api.create(email="bob@example.com", firstName="Bob", lastName="Smith", phone="9")
    gone = await api.create(email="gone@example.com", firstName="Ann", lastName="Smith")
    assert await api.status("DELETE", f"/customers/{gone['id']}") == 204

    async def ids(**criteria: str) -> list[str]:
        reply = await api.call("GET", "/customers/search", **criteria)
        assert reply.status == 200, reply.body
        return [customer["id"] for customer in reply.body]

    assert await ids(lastName="Smith") == [ann["id"], bob["id"]]
    assert await ids(lastName="Smith", firstName="Ann") == [ann["id"]]
    assert await ids(email="ANN@Example.COM") == [ann["id"]]
    assert await ids(email="ann@example.com", firstName="Bob") == []
    assert await ids(mobile="0400 1") == [ann["id"]]
    assert await ids(phone="9") == [ann["id"], bob["id"]]
    assert await ids(lastName="Nobody") == []
    reply = await api.call("GET", "/customers/search", lastName="Smith", firstName="Ann")
    assert reply.body == [ann]  # the full representation
    for query in ({}, {"city": "Perth"}, {"lastName": ""}):
        missing = await api.call("GET", "/customers/search", **query)
        assert missing.status == 400, query
        assert missing.content_type == "application/problem+json"
        assert missing.body["errors"]


async def test_query_values_percent_encoded_like_the_sdk(api):
    """encodeURIComponent and URLSearchParams escape '@', '+' and '/' in query values; those
    must reach customer_service decoded exactly once."""
    customer = await api.create(email="q+1@example.com", customerRef="Q/1", mobile="+61 400 2")
    for query in (f"email={enc('Q+1@Example.com')}", f"mobile={enc('+61 400 2')}"):
        found = await api.call("GET", f"/customers/search?{query}")
        assert (found.status, [c["id"] for c in found.body]) == (200, [customer["id"]]), query
    notes = await api.call("GET", f"/customer/notes?customerRef={enc('Q/1')}")
    assert (notes.status, notes.body) == (200, [])
    assert await api.status("DELETE", f"/customers?customerRef={enc('Q/1')}") == 204


# ------------------------------------------------------------------------------------- notes


async def test_notes_all_six_endpoints(api):
    """Create (by customerId or customerRef), read, update, list newest first (by id or
    customerRef), delete one, delete all; unknown notes and customers are 404."""
    customer = await api.create(email="notes@example.com", customerRef="N/1")
    first = await api.call("POST", "/customer/note", {"customerId": customer["id"], "note": "one"})
    assert first.status == 201, first.body
    note = first.body
    assert uuid.UUID(note["id"])
    assert (note["customerId"], note["customerRef"], note["note"]) == (
        customer["id"], "N/1", "one",
    )  # fmt: skip
    assert ISO_MS.fullmatch(note["createdDate"]) and note["lastModifiedDate"] == note["createdDate"]
    second = await api.call("POST", "/customer/note/", {"customerRef": "N/1", "note": "two"})
    assert second.status == 201 and second.body["customerId"] == customer["id"]

    read = await api.call("GET", f"/customer/note/{note['id']}")
    assert (read.status, read.body) == (200, note)
    updated = await api.call("PUT", "/customer/note", {"id": note["id"], "note": "one, edited"})
    assert updated.status == 200, updated.body
    assert updated.body["note"] == "one, edited"
    assert updated.body["createdDate"] == note["createdDate"]
    assert updated.body["lastModifiedDate"] > note["lastModifiedDate"]
    assert (await api.call("GET", f"/customer/note/{note['id']}")).body == updated.body

    for query in ({"id": customer["id"]}, {"customerRef": "N/1"}):
        listed = await api.call("GET", "/customer/notes", **query)
        assert listed.status == 200
        assert listed.body == [second.body, updated.body]  # newest first

    assert await api.status("DELETE", f"/customer/note/{second.body['id']}") == 204
    assert_not_found(await api.call("GET", f"/customer/note/{second.body['id']}"))
    assert_not_found(await api.call("DELETE", f"/customer/note/{second.body['id']}"))
    assert (await api.call("GET", "/customer/notes", id=customer["id"])).body == [updated.body]
    assert await api.status("DELETE", "/customer/notes", customerRef="N/1") == 204
    assert (await api.call("GET", "/customer/notes", customerRef="N/1")).body == []
    assert_not_found(await api.call("GET", f"/customer/note/{note['id']}"))

    # Unknown customers and notes; invalid bodies.
    assert_not_found(await api.call("GET", "/customer/notes", customerRef="nobody"))
    assert_not_found(await api.call("DELETE", "/customer/notes", id=str(uuid.uuid4())))
    assert_not_found(await api.call("GET", "/customer/note/not-a-uuid"))
    assert_not_found(
        await api.call("POST", "/customer/note", {"customerId": str(uuid.uuid4()), "note": "x"})
    )
    assert_not_found(await api.call("PUT", "/customer/note", {"id": note["id"], "note": "x"}))
    empty = await api.call("POST", "/customer/note", {"customerId": customer["id"], "note": ""})
    assert empty.status == 400 and "note" in empty.body["errors"]
    assert await api.status("GET", "/customer/notes") == 400
    assert await api.status("DELETE", "/customer/notes") == 400
    # Notes go with their customer.
    kept = await api.call("POST", "/customer/note", {"customerId": customer["id"], "note": "x"})
    assert await api.status("DELETE", f"/customers/{customer['id']}") == 204
    assert_not_found(await api.call("GET", f"/customer/note/{kept.body['id']}"))


# ------------------------------------------------------------------------------------ delete


async def test_delete_variants_then_404_and_identifiers_reusable(api):
    """DELETE by id, by {customerRef}/ref, by ?id= and by ?customerRef= each answer 204; the
    customer is then 404 on every read path and its email and refs can be used again."""
    customers = [
        await api.create(
            email=f"Del{n}@Example.com", customerRef=f"D/{n}", alternateCustomerRef=f"DA-{n}"
        )
        for n in range(4)
    ]
    a, _, c, d = customers
    deletes = (
        ("DELETE", f"/customers/{a['id']}", {}),
        ("DELETE", f"/customers/{enc('D/1')}/ref", {}),
        ("DELETE", "/customers", {"id": c["id"]}),
        ("DELETE", "/customers/", {"customerRef": "D/3"}),
    )
    for (method, path, query), customer in zip(deletes, customers, strict=True):
        reply = await api.call(method, path, **query)
        assert (reply.status, reply.body) == (204, None), path
        again = await api.call(method, path, **query)
        assert_not_found(again)
        ref = customer["customerRef"]
        for read in (
            f"/customers/{customer['id']}",
            f"/customers/{enc(ref)}/ref",
            f"/customers/{enc(customer['email'].lower())}/email",
            f"/customers/{customer['alternateCustomerRef']}/alternateCustomerRef",
        ):
            assert_not_found(await api.call("GET", read))
        assert (await api.call("GET", "/customers/search", email=customer["email"])).body == []
        assert_not_found(await api.call("PUT", f"/customers/id={customer['id']}", {"phone": "1"}))
    assert (await api.call("DELETE", "/customers")).status == 400
    for customer in (a, d):
        reused = await api.create(
            email=customer["email"].upper(),
            customerRef=customer["customerRef"],
            alternateCustomerRef=customer["alternateCustomerRef"],
        )
        assert reused["id"] != customer["id"]
        found = await api.call("GET", f"/customers/{enc(customer['customerRef'])}/ref")
        assert found.body == reused


# ------------------------------------------------------------------------------- conflicts


async def test_duplicate_identifiers_are_409_naming_the_field(api, running_suite, http):
    """Email (case-insensitively), customerRef and alternateCustomerRef are unique per tenant,
    on create and on update; another tenant may use the same values."""
    taken = await api.create(
        email="Taken@Example.com", customerRef="T-1", alternateCustomerRef="TA"
    )
    other = await api.create(email="other@example.com")
    for field, value in (
        ("email", "taken@EXAMPLE.com"),
        ("customerRef", "T-1"),
        ("alternateCustomerRef", "TA"),
    ):
        fields = {"email": "fresh@example.com", field: value}
        created = await api.call("POST", "/customers", fields)
        assert created.status == 409, field
        assert created.content_type == "application/problem+json"
        assert created.body["errors"] == {field: ["already in use"]}
        updated = await api.call("PUT", f"/customers/id={other['id']}", {field: value})
        assert (updated.status, updated.body["errors"]) == (409, {field: ["already in use"]})
    # Nothing was stored or changed by the refused calls.
    assert (await api.call("GET", "/customers/search", email="fresh@example.com")).body == []
    assert (await api.call("GET", f"/customers/{other['id']}")).body == other
    # Another tenant is another namespace.
    neighbour = await obtain_client(running_suite, http, f"t_{uuid.uuid4().hex[:12]}")
    theirs = await api.call(
        "POST", "/customers", {"email": "taken@example.com", "customerRef": "T-1"},
        headers=neighbour.headers,
    )  # fmt: skip
    assert theirs.status == 201 and theirs.body["id"] != taken["id"]


# ---------------------------------------------------------------------------- tenant header


async def test_another_tenants_header_is_forbidden_on_every_family(api, running_suite, http):
    """A valid token with another (existing) tenant's X-TWC-Tenant is 403 on every family and
    changes nothing there; with its own header, the other tenant's customer is a plain 404."""
    neighbour = await obtain_client(running_suite, http, f"t_{uuid.uuid4().hex[:12]}")
    victim = await api.call(
        "POST", "/customers", {"email": "victim@example.com", "customerRef": "V-1"},
        headers=neighbour.headers,
    )  # fmt: skip
    victim_id = victim.body["id"]
    note = await api.call(
        "POST", "/customer/note", {"customerId": victim_id, "note": "private"},
        headers=neighbour.headers,
    )  # fmt: skip
    forged = {**api.headers, "X-TWC-Tenant": neighbour.tenant}
    calls = (
        ("POST", "/customers", {"email": "intruder@example.com"}, {}),
        ("POST", "/customers/validate", {"email": "intruder@example.com"}, {}),
        ("GET", f"/customers/{victim_id}", None, {}),
        ("GET", "/customers/V-1/ref", None, {}),
        ("GET", "/customers/victim%40example.com/email", None, {}),
        ("GET", "/customers/search", None, {"email": "victim@example.com"}),
        ("PUT", f"/customers/id={victim_id}", {"firstName": "Pwned"}, {}),
        ("PUT", "/customers", {"customerRef": "V-1", "firstName": "Pwned"}, {}),
        ("POST", f"/customers/{victim_id}/address", {"city": "x"}, {}),
        ("GET", f"/customer/note/{note.body['id']}", None, {}),
        ("GET", "/customer/notes", None, {"id": victim_id}),
        ("POST", "/customer/note", {"customerId": victim_id, "note": "x"}, {}),
        ("DELETE", "/customer/notes", None, {"id": victim_id}),
        ("DELETE", f"/customers/{victim_id}", None, {}),
        ("DELETE", "/customers", None, {"customerRef": "V-1"}),
    )
    for method, path, body, query in calls:
        reply = await api.call(method, path, body, headers=forged, **query)
        assert reply.status == 403, (method, path, reply.status)
        assert reply.content_type == "application/problem+json"
        assert "X-TWC-Tenant" in reply.body["detail"]
    # The neighbour's data is untouched, and invisible to this tenant with its own header.
    after = await api.call("GET", f"/customers/{victim_id}", headers=neighbour.headers)
    assert after.body == victim.body
    notes = await api.call("GET", "/customer/notes", headers=neighbour.headers, id=victim_id)
    assert notes.body == [note.body]
    assert_not_found(await api.call("GET", f"/customers/{victim_id}"))
    assert_not_found(await api.call("GET", f"/customer/note/{note.body['id']}"))
    assert (await api.call("GET", "/customers/search", email="victim@example.com")).body == []
