"""customer.imported (API.md §5): one event per committed chunk, at most 1,000 customers each."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.events import IMPORTED_EVENT_ENTRIES, imported_events

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
BATCH = {"id": uuid.UUID(int=7), "batch_ref": "nightly"}


def ids(prefix: str, count: int) -> list[dict]:
    return [
        {"id": str(uuid.UUID(int=n)), "customerRef": f"{prefix}{n}", "alternateCustomerRef": None}
        for n in range(count)
    ]


def test_a_chunk_is_one_event_naming_its_created_and_updated_customers():
    created, updated = ids("C", 2), ids("U", 1)
    (event,) = imported_events(tenant="t", batch=BATCH, created=created, updated=updated, now=NOW)
    assert set(event) == {
        "eventId", "type", "tenant", "occurredAt", "batchId", "batchRef", "created", "updated",
    }  # fmt: skip
    assert (event["type"], event["tenant"], event["batchId"], event["batchRef"]) == (
        "customer.imported", "t", str(BATCH["id"]), "nightly",
    )  # fmt: skip
    assert (event["created"], event["updated"]) == (created, updated)
    assert event["occurredAt"] == "2026-01-02T03:04:05.000Z"


def test_a_chunk_that_changed_nothing_announces_nothing():
    assert imported_events(tenant="t", batch=BATCH, created=[], updated=[], now=NOW) == []


def test_a_bigger_chunk_emits_several_events_of_at_most_1000_entries():
    created, updated = ids("C", 1_500), ids("U", 700)
    events = imported_events(tenant="t", batch=BATCH, created=created, updated=updated, now=NOW)
    sizes = [len(e["created"]) + len(e["updated"]) for e in events]
    assert IMPORTED_EVENT_ENTRIES == 1_000 and sizes == [1_000, 1_000, 200]
    assert [c for e in events for c in e["created"]] == created
    assert [u for e in events for u in e["updated"]] == updated
    assert len({e["eventId"] for e in events}) == 3
