"""The computed fields of the customer representation (API.md §11), from a customer's totals,
and a stored fact as the data-subject export shows it.

Strings as TWC v2 sends them (`"12"`, `"1234.50"`); all null while a customer has no placed
order."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared.timefmt import iso_ms

SPEND_FIELDS = (
    "lifetimeOrderValue", "averageSpendPerAnnum", "running12monthSpend", "totalOrders",
    "totalSpend", "lastOrderDate", "lastOrderRef",
)  # fmt: skip
NO_SPEND: Mapping[str, Any] = dict.fromkeys(SPEND_FIELDS)

_CENT = Decimal("0.01")
# "Years since the first order" as a fraction: a mean Gregorian year.
_SECONDS_PER_YEAR = Decimal(365.2425 * 86400)


def money(amount: Decimal) -> str:
    return str(amount.quantize(_CENT, rounding=ROUND_HALF_UP))


def years_since(first: datetime, now: datetime) -> Decimal:
    return Decimal((now - first).total_seconds()) / _SECONDS_PER_YEAR


def spend_fields(totals: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The seven computed fields from a row of `order_totals` (with `running_spend`)."""
    if totals is None:
        return dict(NO_SPEND)
    total_spend: Decimal = totals["total_spend"]
    per_annum = total_spend / max(Decimal(1), years_since(totals["first_order_date"], now))
    return {
        "lifetimeOrderValue": money(totals["lifetime_value"]),
        "averageSpendPerAnnum": money(per_annum),
        "running12monthSpend": money(totals["running_spend"]),
        "totalOrders": str(totals["total_orders"]),
        "totalSpend": money(total_spend),
        "lastOrderDate": iso_ms(totals["last_order_date"]),
        "lastOrderRef": totals["last_order_ref"],
    }


def render_fact(fact: Mapping[str, Any]) -> dict[str, Any]:
    """A stored fact (a row of `order_facts`) as §11 takes it in: the customer named the way the
    sender named it, money as decimal strings, with the envelope's eventId and occurredAt."""
    return {
        "eventId": fact["event_id"],
        "occurredAt": iso_ms(fact["occurred_at"]),
        "orderRef": fact["order_ref"],
        "orderName": fact["order_name"],
        fact["customer_kind"]: fact["customer_key"],
        "orderDate": iso_ms(fact["order_date"]),
        "total": money(fact["total"]),
        "refundedAmount": money(fact["refunded_amount"]),
        "currency": fact["currency"],
        "status": fact["status"],
    }
