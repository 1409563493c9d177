"""The API's timestamp format: ISO 8601 UTC with milliseconds, e.g. 2023-05-19T03:48:22.075Z."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_ms(value: datetime | None) -> str | None:
    """Render an aware datetime the way every response does; None stays None."""
    if value is None:
        return None
    # isoformat is a fifth of strftime's cost; every response renders two of these.
    return value.astimezone(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"
