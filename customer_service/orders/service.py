"""`POST /order-events` (API.md §11): validate every fact of a request at once, then apply
them together (the use cases themselves live in `shared.orders.service`, which the queue
consumer in impex_worker applies facts with too)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg

from shared.errors import InvalidInput
from shared.orders.facts import InvalidFact, parse_request
from shared.orders.service import apply_facts
from shared.timefmt import utcnow


class OrderService:
    """`POST /order-events`: validate every fact at once, then apply them together."""

    def __init__(self, pool: asyncpg.Pool, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._pool = pool
        self._clock = clock

    async def accept(self, tenant: str, body: object) -> int:
        try:
            facts = parse_request(body, now=self._clock())
        except InvalidFact as exc:
            raise InvalidInput("The order facts are not valid.", errors=exc.errors) from None
        await apply_facts(self._pool, tenant, facts)
        return len(facts)
