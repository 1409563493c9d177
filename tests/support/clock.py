"""A clock a test moves forward instead of sleeping (handed to an app factory's `clock`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SteppedClock:
    """The real time plus however far the test has moved it: `advance(milliseconds=5)` makes
    the next stamp at least that much later, without waiting."""

    def __init__(self) -> None:
        self._offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward by `timedelta(**delta)`; returns the new now."""
        step = timedelta(**delta)
        if step <= timedelta():
            raise ValueError("a clock only moves forward")
        self._offset += step
        return self()
