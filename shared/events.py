"""The envelope every event of the suite shares (API.md §5): ids and a time, never personal data."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

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
