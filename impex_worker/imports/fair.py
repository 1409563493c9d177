"""Import slots shared fairly between tenants.

A worker runs at most a few batches at once. With a plain semaphore the waiting batches are
served first come, first served, so one tenant dropping a hundred batches would make every
other tenant wait behind all of them. Here a free slot goes to the waiting tenant with the
fewest batches running, ties going round-robin (the tenant served longest ago first, one
never served before any); each tenant's own batches keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator


class FairSlots:
    def __init__(self, size: int) -> None:
        self._free = size
        self._running: Counter[str] = Counter()
        self._served = 0
        self._served_at: dict[str, int] = {}  # when each tenant last got a slot
        # Tenants with waiting batches, in the order they came (breaks the last ties).
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    @contextlib.asynccontextmanager
    async def slot(self, tenant: str) -> AsyncIterator[None]:
        """Hold one slot for `tenant` while the block runs."""
        await self._acquire(tenant)
        try:
            yield
        finally:
            self._release(tenant)

    def running(self, tenant: str) -> int:
        return self._running[tenant]

    async def _acquire(self, tenant: str) -> None:
        if self._free > 0 and not self._waiting:
            self._take(tenant)
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tenant, deque()).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release(tenant)  # the slot was given just as the waiter was cancelled
            else:
                self._forget(tenant, turn)
            raise

    def _take(self, tenant: str) -> None:
        self._free -= 1
        self._running[tenant] += 1
        self._served += 1
        self._served_at[tenant] = self._served

    def _release(self, tenant: str) -> None:
        self._free += 1
        self._running[tenant] -= 1
        if not self._running[tenant]:
            del self._running[tenant]
            if tenant not in self._waiting:
                self._served_at.pop(tenant, None)  # bounded by the tenants in play
        self._hand_on()

    def _hand_on(self) -> None:
        while self._free > 0 and self._waiting:
            tenant = min(self._waiting, key=self._priority)
            turns = self._waiting[tenant]
            turn = turns.popleft()
            if not turns:
                del self._waiting[tenant]
            if not turn.done():
                self._take(tenant)
                turn.set_result(None)

    def _priority(self, tenant: str) -> tuple[int, int]:
        return self._running[tenant], self._served_at.get(tenant, 0)

    def _forget(self, tenant: str, turn: asyncio.Future[None]) -> None:
        turns = self._waiting.get(tenant)
        if turns is None:
            return
        with contextlib.suppress(ValueError):
            turns.remove(turn)
        if not turns:
            del self._waiting[tenant]
