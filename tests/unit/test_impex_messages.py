"""Parsing `customer.deleted` bodies, and the keyed pseudonym that replaces a customer id."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import orjson
import pytest

from impex_worker.deidentify import customer_pseudonym
from impex_worker.messages import CustomerDeleted, InvalidMessage, parse_customer_deleted

CUSTOMER_ID = uuid.UUID("8a1d6c52-3f7e-4a8e-9d6b-0c2f1e5a7b90")


def _body(**changes: object) -> dict:
    body: dict = {
        "eventId": "0d7f5a3e-2b1c-4e8f-9a6d-5c4b3a2f1e0d",
        "type": "customer.deleted",
        "tenant": "acme",
        "occurredAt": "2024-05-19T03:48:22.075Z",
        "customer": {"id": str(CUSTOMER_ID), "customerRef": "C-1", "alternateCustomerRef": None},
    }
    body.update(changes)
    return body


def test_a_well_formed_event_is_parsed_into_ids_only() -> None:
    """The contract's body becomes event id, tenant and customer id; refs are not kept."""
    event = parse_customer_deleted(orjson.dumps(_body()))
    assert event == CustomerDeleted(
        event_id="0d7f5a3e-2b1c-4e8f-9a6d-5c4b3a2f1e0d", tenant="acme", customer_id=CUSTOMER_ID
    )


def test_unknown_fields_and_a_missing_event_id_or_type_are_tolerated() -> None:
    """Tolerant reader: only tenant and customer.id are required."""
    body = _body(extra={"nested": True})
    del body["eventId"], body["type"]
    event = parse_customer_deleted(orjson.dumps(body))
    assert event.event_id is None
    assert event.customer_id == CUSTOMER_ID


def test_an_uppercase_customer_id_is_the_same_customer() -> None:
    """UUIDs are compared as values, so the pseudonym does not depend on their spelling."""
    body = _body(customer={"id": str(CUSTOMER_ID).upper()})
    assert parse_customer_deleted(orjson.dumps(body)).customer_id == CUSTOMER_ID


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"", "not JSON"),
        (b'["a list"]', "not a JSON object"),
        (orjson.dumps(_body(type="customer.created")), "type"),
        (orjson.dumps({k: v for k, v in _body().items() if k != "tenant"}), "tenant"),
        (orjson.dumps(_body(tenant="no spaces allowed")), "tenant"),
        (orjson.dumps(_body(tenant=42)), "tenant"),
        (orjson.dumps({k: v for k, v in _body().items() if k != "customer"}), "customer"),
        (orjson.dumps(_body(customer="8a1d6c52")), "customer"),
        (orjson.dumps(_body(customer={"customerRef": "C-1"})), "customer.id"),
        (orjson.dumps(_body(customer={"id": "not-a-uuid"})), "customer.id"),
        (orjson.dumps(_body(customer={"id": 7})), "customer.id"),
        (orjson.dumps(_body(eventId=12)), "eventId"),
        (orjson.dumps(_body(eventId="x" * 129)), "eventId"),
    ],
)
def test_a_malformed_body_is_invalid_and_says_why(body: bytes, reason: str) -> None:
    """Every malformed shape is refused with a reason naming the field."""
    with pytest.raises(InvalidMessage, match=reason):
        parse_customer_deleted(body)


def test_the_reason_never_echoes_the_body() -> None:
    """Reasons are logged, so they must not carry what the body holds."""
    body = orjson.dumps(_body(tenant="ada@example.com"))
    with pytest.raises(InvalidMessage) as raised:
        parse_customer_deleted(body)
    assert "ada@example.com" not in str(raised.value)


def test_pseudonym_is_the_keyed_hmac_sha256_of_tenant_and_customer_id() -> None:
    """HMAC-SHA256 over `<tenant>:<customer id>`, hex encoded."""
    expected = hmac.new(b"secret", f"acme:{CUSTOMER_ID}".encode(), hashlib.sha256).hexdigest()
    assert customer_pseudonym("secret", tenant="acme", customer_id=CUSTOMER_ID) == expected
    assert len(expected) == 64


def test_pseudonym_is_stable_so_distinct_customers_can_still_be_counted() -> None:
    """The same customer always maps to the same pseudonym; different ones do not collide."""
    first = customer_pseudonym("secret", tenant="acme", customer_id=CUSTOMER_ID)
    assert customer_pseudonym("secret", tenant="acme", customer_id=CUSTOMER_ID) == first
    assert customer_pseudonym("secret", tenant="acme", customer_id=uuid.uuid4()) != first


def test_pseudonym_depends_on_the_key_and_the_tenant() -> None:
    """Without the key it cannot be recomputed, and tenants cannot be joined on it."""
    base = customer_pseudonym("secret", tenant="acme", customer_id=CUSTOMER_ID)
    assert customer_pseudonym("other-key", tenant="acme", customer_id=CUSTOMER_ID) != base
    assert customer_pseudonym("secret", tenant="globex", customer_id=CUSTOMER_ID) != base
    assert str(CUSTOMER_ID) not in base
