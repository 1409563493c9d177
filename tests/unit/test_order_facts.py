"""Order facts: validation (API.md §11) and the computed fields' arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from impex_worker.messages import InvalidMessage, parse_order_upserted
from shared.orders.facts import InvalidFact, parse_event, parse_request
from shared.orders.spend import NO_SPEND, spend_fields

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FACT = {
    "orderRef": "O-1",
    "customerRef": "C-1",
    "orderDate": "2025-06-01T10:00:00Z",
    "total": "10.50",
    "currency": "eur",
    "status": "placed",
}


def test_a_single_fact_gets_a_new_event_id_now_and_defaults():
    [fact] = parse_request(FACT, now=NOW)
    assert fact.occurred_at == NOW
    assert fact.event_id
    assert fact.currency == "EUR"
    assert fact.refunded_amount == Decimal("0.00")
    assert (fact.customer_kind, fact.customer_key) == ("customerRef", "C-1")


def test_customer_id_wins_over_ref_and_email_and_emails_are_lower_cased():
    [by_email] = parse_request({**FACT, "customerRef": None, "email": "A@B.example"}, now=NOW)
    assert (by_email.customer_kind, by_email.customer_key) == ("email", "a@b.example")
    customer_id = "6f1c2b1e-3c1d-4a8e-9b1a-6a1d2c3b4e5f"
    [by_id] = parse_request({**FACT, "customerId": customer_id}, now=NOW)
    assert (by_id.customer_kind, by_id.customer_key) == ("customerId", customer_id)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"total": "-1.00"}, "total"),
        ({"total": 10.5}, "total"),
        ({"total": "1.234"}, "total"),
        ({"currency": "XYZ"}, "currency"),
        ({"status": "shipped"}, "status"),
        ({"orderDate": "yesterday"}, "orderDate"),
        ({"refundedAmount": "11.00"}, "refundedAmount"),
        ({"customerRef": None}, "customerId"),
        ({"customerId": "nope"}, "customerId"),
        ({"orderRef": ""}, "orderRef"),
        ({"eventId": ""}, "eventId"),
    ],
)
def test_each_invalid_field_is_named_with_its_index(change, field):
    with pytest.raises(InvalidFact) as caught:
        parse_request([FACT, {**FACT, **change}], now=NOW)
    assert list(caught.value.errors) == [f"1.{field}"]


def test_an_empty_array_or_more_than_100_facts_is_refused():
    for body in ([], [FACT] * 101, "text"):
        with pytest.raises(InvalidFact) as caught:
            parse_request(body, now=NOW)
        assert list(caught.value.errors) == ["_body"]


def test_a_queued_fact_needs_the_envelopes_event_id_and_time():
    with pytest.raises(InvalidFact) as caught:
        parse_event(FACT, event_id=None, occurred_at="bad")
    assert set(caught.value.errors) == {"eventId", "occurredAt"}
    fact = parse_event(FACT, event_id="e-1", occurred_at="2025-06-01T10:00:00+02:00")
    assert fact.occurred_at == datetime(2025, 6, 1, 8, tzinfo=UTC)


def test_a_malformed_order_message_names_fields_but_no_values():
    body = b'{"eventId": "e", "tenant": "t", "occurredAt": "2025-01-01T00:00:00Z",'
    body += b' "order": {"orderRef": "x", "email": "secret@example.com", "total": "-3"}}'
    with pytest.raises(InvalidMessage) as caught:
        parse_order_upserted(body)
    assert "order.total" in str(caught.value)
    assert "secret@example.com" not in str(caught.value)


def totals(**overrides):
    return {
        "total_orders": 3,
        "lifetime_value": Decimal("300.00"),
        "total_spend": Decimal("250.00"),
        "first_order_date": NOW - timedelta(days=100),
        "last_order_date": NOW - timedelta(days=1),
        "last_order_ref": "O-3",
        "running_spend": Decimal("120.5"),
        **overrides,
    }


def test_spend_fields_are_strings_with_two_decimals():
    fields = spend_fields(totals(), NOW)
    assert fields == {
        "lifetimeOrderValue": "300.00",
        "averageSpendPerAnnum": "250.00",  # under a year: divided by 1
        "running12monthSpend": "120.50",
        "totalOrders": "3",
        "totalSpend": "250.00",
        "lastOrderDate": "2025-12-31T00:00:00.000Z",
        "lastOrderRef": "O-3",
    }


def test_average_spend_per_annum_divides_by_the_years_since_the_first_order():
    two_years = timedelta(days=2 * 365.2425)
    fields = spend_fields(totals(first_order_date=NOW - two_years), NOW)
    assert fields["averageSpendPerAnnum"] == "125.00"


def test_no_totals_means_every_field_null():
    assert spend_fields(None, NOW) == dict(NO_SPEND)
    assert all(value is None for value in NO_SPEND.values())
