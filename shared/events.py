"""The envelope every event of the suite shares (API.md §5): ids and a time, never personal data."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.amqp import CUSTOMER_IMPORTED
from shared.timefmt import iso_ms


def event_envelope(event_type: str, *, tenant: str, now: datetime, **body: Any) -> dict[str, Any]:
    """`{"eventId", "type", "tenant", "occurredAt", **body}`; consumers dedupe by eventId."""
    return {
        "eventId": str(uuid.uuid4()),
        "type": event_type,
        "tenant": tenant,
        "occurredAt": iso_ms(now),
        **body,
    }


# API.md §5: a customer.imported event names at most this many customers (created + updated).
IMPORTED_EVENT_ENTRIES = 1_000


def imported_events(
    *,
    tenant: str,
    batch: Mapping[str, Any],
    created: Sequence[Mapping[str, Any]],
    updated: Sequence[Mapping[str, Any]],
    now: datetime,
    entries: int = IMPORTED_EVENT_ENTRIES,
) -> list[dict[str, Any]]:
    """The `customer.imported` events of one committed import chunk: its created, then its
    updated customers (ids and refs), `entries` at most per event; none for a chunk that
    changed nothing."""
    named = [*(("created", c) for c in created), *(("updated", c) for c in updated)]
    events = []
    for start in range(0, len(named), entries):
        lists: dict[str, list[Mapping[str, Any]]] = {"created": [], "updated": []}
        for kind, customer in named[start : start + entries]:
            lists[kind].append(customer)
        body = {"batchId": str(batch["id"]), "batchRef": batch["batch_ref"], **lists}
        events.append(event_envelope(CUSTOMER_IMPORTED, tenant=tenant, now=now, **body))
    return events
