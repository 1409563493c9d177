"""Retrying after a failure: exponential backoff with full jitter and a cap, in one place.

Every background loop that waits before trying again (the outbox relay, the revocation
follower, the signing-key loader, the consumer's connect and its pause before a requeue) uses
this, so many replicas that lost the same dependency at the same moment do not all come back
at the same instant ("full jitter": the wait is uniform between 0 and the exponential ceiling).

    backoff = Backoff(base=0.5, cap=10.0)
    while True:
        try:
            await work()
            backoff.reset()
        except ConnectionError:
            await backoff.wait()

The randomness and the sleep are injectable, so tests are deterministic and never sleep.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[object]]


def backoff_ceiling(attempt: int, *, base: float, cap: float, factor: float = 2.0) -> float:
    """The longest wait before retry `attempt` (0 for the first): `base·factor^attempt`, capped."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if base <= 0 or cap < base or factor < 1:
        raise ValueError("need 0 < base <= cap and factor >= 1")
    # Exponent capped too: no float overflow however long a dependency stays down.
    exponent = min(attempt, 64)
    return min(cap, base * factor**exponent)


def jittered_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    factor: float = 2.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Full jitter: uniform in [0, ceiling) for retry `attempt` (`rand()` is in [0, 1))."""
    return rand() * backoff_ceiling(attempt, base=base, cap=cap, factor=factor)


class Backoff:
    """The waits of one retry loop: each failure waits longer (jittered), success resets."""

    def __init__(
        self,
        *,
        base: float,
        cap: float,
        factor: float = 2.0,
        rand: Callable[[], float] = random.random,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        backoff_ceiling(0, base=base, cap=cap, factor=factor)  # validates the parameters
        self._base = base
        self._cap = cap
        self._factor = factor
        self._rand = rand
        self._sleep = sleep
        self.attempt = 0  # failures since the last reset

    def reset(self) -> None:
        """The operation succeeded: the next failure waits the shortest again."""
        self.attempt = 0

    def next_delay(self) -> float:
        """The wait before the next try (and count the failure)."""
        delay = jittered_delay(
            self.attempt, base=self._base, cap=self._cap, factor=self._factor, rand=self._rand
        )
        self.attempt += 1
        return delay

    async def wait(self) -> float:
        """Sleep the next delay; returns how long it was."""
        delay = self.next_delay()
        await self._sleep(delay)
        return delay
