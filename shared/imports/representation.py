"""Batches, row errors and batch events as the API and `impex.events` show them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.events import event_envelope
from shared.timefmt import iso_ms

CREATED = "CREATED"
READY = "READY"
PROCESSING = "PROCESSING"
COMPLETED = "COMPLETED"
ERROR = "ERROR"
ABORTED = "ABORTED"
BATCH_STATES = (CREATED, READY, PROCESSING, COMPLETED, ERROR, ABORTED)
ENDED_STATES = frozenset({COMPLETED, ERROR, ABORTED})


def render_batch(record: Mapping[str, Any]) -> dict[str, Any]:
    """A batch row as the API shows it; `errorMessage` only when there is one."""
    body: dict[str, Any] = {
        "id": str(record["id"]),
        "batchRef": record["batch_ref"],
        "state": record["state"],
        "total": record["total"],
        "processed": record["processed"],
        "imported": record["imported"],
        "failed": record["failed"],
        "createdAt": iso_ms(record["created_at"]),
        "modifiedAt": iso_ms(record["modified_at"]),
        "completedAt": iso_ms(record["completed_at"]),
    }
    if record["error_message"]:
        body["errorMessage"] = record["error_message"]
    return body


def render_row_error(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "row": record["record_no"],
        "customerRef": record["customer_ref"],
        "email": record["email"],
        "errors": record["errors"],
    }


def render_page(results: list[Any], *, page: int, page_size: int, total: int) -> dict[str, Any]:
    return {"results": results, "page": page, "pageSize": page_size, "total": total}


def batch_location(batch_id: uuid.UUID | str) -> str:
    """The upstream path of a batch (the gateway rewrites it to the public one)."""
    return f"/api/import/batch/{batch_id}"


def batch_event(
    event_type: str, *, tenant: str, record: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The body of `impex.batch.completed` / `.failed`: the batch, never personal data."""
    return event_envelope(event_type, tenant=tenant, now=now, batch=render_batch(record))


def import_message(*, tenant: str, batch_id: uuid.UUID) -> dict[str, Any]:
    """What READY queues for the worker (through the outbox): which batch to import."""
    return {"eventId": str(uuid.uuid4()), "tenant": tenant, "batchId": str(batch_id)}
