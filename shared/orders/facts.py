"""An order fact as it arrives (over HTTP or on the queue), validated into an `OrderFact`.

Errors name the field exactly as the client wrote it (`0.total` for the first fact of an
array) and never echo a value, so the queue consumer may log them (no personal data)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pycountry

from shared.schemas.patterns import WHITESPACE_CLASS

MAX_FACTS_PER_REQUEST = 100
STATUSES = ("placed", "cancelled", "test")
# How a fact names its customer, in order of precedence.
CUSTOMER_KINDS = ("customerId", "customerRef", "email")
MAX_TEXT = 255
MAX_EVENT_ID = 128
# A decimal string with at most two decimals: what the stored numeric(17, 2) holds exactly
# (ASCII digits: `\d` would also take other scripts' digits). A sign is read to say "negative".
_DIGITS = r"[0-9]{1,15}(?:\.[0-9]{1,2})?"
_AMOUNT = re.compile(rf"-?{_DIGITS}")
# The same rule for the OpenAPI document: a non-negative amount, blanks around it allowed.
_BLANK = f"[{WHITESPACE_CLASS}]"
AMOUNT_PATTERN = rf"^{_BLANK}*{_DIGITS}{_BLANK}*$"
CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies)


class InvalidFact(ValueError):
    """`errors` maps field paths to messages, as in a 400's `errors`."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("Invalid order fact: " + ", ".join(sorted(errors)))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class OrderFact:
    event_id: str
    occurred_at: datetime
    order_ref: str
    order_name: str | None
    customer_kind: str
    customer_key: str  # an email lower-cased
    order_date: datetime
    total: Decimal
    refunded_amount: Decimal
    currency: str
    status: str


def parse_request(body: object, *, now: datetime) -> list[OrderFact]:
    """`POST /order-events`: one fact or an array of 1 to 100, each with an optional `eventId`
    (default: a new one) and `occurredAt` (default: now). Every error of every fact at once."""
    if isinstance(body, Mapping):
        return [_parse_or_raise(body, prefix="", now=now)]
    if not isinstance(body, list) or not 1 <= len(body) <= MAX_FACTS_PER_REQUEST:
        raise InvalidFact(
            {"_body": [f"An order fact or an array of 1 to {MAX_FACTS_PER_REQUEST} of them."]}
        )
    facts, errors = [], {}
    for index, item in enumerate(body):
        try:
            facts.append(_parse_or_raise(item, prefix=f"{index}.", now=now))
        except InvalidFact as exc:
            errors.update(exc.errors)
    if errors:
        raise InvalidFact(errors)
    return facts


def parse_event(order: object, *, event_id: object, occurred_at: object) -> OrderFact:
    """The `order` of an `order.upserted` message, whose envelope gives the id and time."""
    errors: dict[str, list[str]] = {}
    envelope = {"eventId": event_id, "occurredAt": occurred_at}
    fields = _fields(order, envelope, errors, prefix="order.", required_envelope=True)
    if errors:
        raise InvalidFact(errors)
    return fields


def _parse_or_raise(item: object, *, prefix: str, now: datetime) -> OrderFact:
    errors: dict[str, list[str]] = {}
    envelope = item if isinstance(item, Mapping) else {}
    fact = _fields(item, envelope, errors, prefix=prefix, required_envelope=False, now=now)
    if errors:
        raise InvalidFact(errors)
    return fact


def _fields(
    item: object,
    envelope: Mapping[str, Any],
    errors: dict[str, list[str]],
    *,
    prefix: str,
    required_envelope: bool,
    now: datetime | None = None,
) -> OrderFact:
    if not isinstance(item, Mapping):
        errors[prefix.rstrip(".") or "_body"] = ["An order fact must be a JSON object."]
        return None  # type: ignore[return-value]

    def field(
        name: str,
        parse: Callable[[Any], Any],
        *,
        required: bool,
        source: Mapping[str, Any] = item,
        path: str = prefix,
    ) -> Any:
        value = source.get(name)
        if value is None:
            if required:
                errors[path + name] = ["Missing data for required field."]
            return None
        try:
            return parse(value)
        except ValueError as exc:
            errors[path + name] = [str(exc)]
            return None

    # Over HTTP the envelope fields sit in the fact; on the queue, beside `order`.
    envelope_path = "" if required_envelope else prefix
    event_id = field(
        "eventId", _event_id, required=required_envelope, source=envelope, path=envelope_path
    )
    occurred_at = field(
        "occurredAt", _instant, required=required_envelope, source=envelope, path=envelope_path
    )
    order_ref = field("orderRef", _text, required=True)
    order_name = field("orderName", _text, required=False)
    order_date = field("orderDate", _instant, required=True)
    total = field("total", _amount, required=True)
    refunded = field("refundedAmount", _amount, required=False)
    currency = field("currency", _currency, required=True)
    status = field("status", _status, required=True)
    kind, key = _customer(item, errors, prefix)
    if total is not None and refunded is not None and refunded > total:
        errors[prefix + "refundedAmount"] = ["Must not be more than total."]
    if errors:
        return None  # type: ignore[return-value]
    return OrderFact(
        event_id=event_id or str(uuid.uuid4()),
        occurred_at=occurred_at or now,
        order_ref=order_ref,
        order_name=order_name,
        customer_kind=kind,
        customer_key=key,
        order_date=order_date,
        total=total,
        refunded_amount=refunded if refunded is not None else Decimal("0.00"),
        currency=currency,
        status=status,
    )


def _customer(
    item: Mapping[str, Any], errors: dict[str, list[str]], prefix: str
) -> tuple[str, str]:
    for kind in CUSTOMER_KINDS:
        value = item.get(kind)
        if value is None:
            continue
        try:
            if kind == "customerId":
                return kind, str(_uuid(value))
            text = _text(value)
            if kind == "email":
                if "@" not in text:
                    raise ValueError("Not a valid email address.")
                text = text.lower()
            return kind, text
        except ValueError as exc:
            errors[prefix + kind] = [str(exc)]
            return kind, ""
    errors[prefix + "customerId"] = ["One of customerId, customerRef or email is required."]
    return "", ""


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("Not a valid string.")
    value = value.strip()
    if not value:
        raise ValueError("Must not be empty.")
    if len(value) > MAX_TEXT:
        raise ValueError(f"Longer than maximum length {MAX_TEXT}.")
    if "\x00" in value:
        raise ValueError("Must not contain NUL characters.")
    return value


def _event_id(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_EVENT_ID:
        raise ValueError(f"Not a string of 1 to {MAX_EVENT_ID} characters.")
    return value


def _uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise ValueError("Not a valid UUID.")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError("Not a valid UUID.") from None


def _instant(value: Any) -> datetime:
    """An ISO 8601 instant; one without an offset is taken as UTC."""
    if not isinstance(value, str):
        raise ValueError("Not a valid ISO 8601 date-time.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("Not a valid ISO 8601 date-time.") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _amount(value: Any) -> Decimal:
    # A JSON number would be a binary float: money comes as a decimal string, as TWC sends it.
    if not isinstance(value, str) or not _AMOUNT.fullmatch(value.strip()):
        raise ValueError('Not a decimal string with at most 2 decimals, e.g. "1234.50".')
    amount = Decimal(value.strip())
    if amount < 0 or value.strip().startswith("-"):
        raise ValueError("Must not be negative.")
    return amount


def _currency(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in CURRENCY_CODES:
        raise ValueError("Not an ISO 4217 currency code.")
    return value.upper()


def _status(value: Any) -> str:
    if value not in STATUSES:
        raise ValueError(f"Must be one of: {', '.join(STATUSES)}.")
    return value
