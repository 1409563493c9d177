"""Customer events as written to the outbox: ids only, never personal data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.events import event_envelope


def customer_event(
    event_type: str, *, tenant: str, record: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The body of a `customer.*` event for the customer in `record` (a customer row)."""
    return event_envelope(
        event_type,
        tenant=tenant,
        now=now,
        customer={
            "id": str(record["id"]),
            "customerRef": record["customer_ref"],
            "alternateCustomerRef": record["alternate_customer_ref"],
        },
    )
