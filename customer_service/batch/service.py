"""The batch use case: each item through its single endpoint's use case, in its own
transaction, so one failing item never undoes another and later items see earlier ones.

Items that cannot see each other run side by side: the items are split into groups by the
customers they name and the unique values they set (`items.dependent_groups`, with the stored
customers that hold any of those values, read once per batch); each group runs in processing
order, the groups concurrently: at most `lanes` items of one batch at a time, and at most `slots`
batch items of the whole process (leave the pool room for other requests). The answer is in
processing order whatever finished first.
Inside one joined transaction (an `Idempotency-Key` request: one connection) every item runs
in turn."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import structlog

from customer_service.batch.items import (
    OPERATIONS,
    delete_identifier,
    dependent_groups,
    item_keys,
    sections_of,
    upsert_identifier,
)
from customer_service.service import Identifier, identifier_in_body
from shared.db import in_joined_transaction
from shared.errors import DomainError, NotFound, Unavailable
from shared.log import current_request_id
from shared.web import domain_problem, problem_body

log = structlog.get_logger("batch")

Outcome = tuple[int, str, dict[str, Any] | None]  # status, customer id, customer
DEFAULT_LANES = 4  # items of one batch at a time
DEFAULT_SLOTS = 8  # batch items of the process at a time


class Customers(Protocol):
    """The customer use cases a batch item runs (customer_service.service.CustomerService)."""

    async def create(self, tenant: str, body: object) -> dict[str, Any]: ...

    async def update(self, tenant: str, identifier: Identifier, body: object) -> dict[str, Any]: ...

    async def delete(self, tenant: str, identifier: Identifier) -> str: ...

    async def holders_of(
        self, tenant: str, keys: Sequence[tuple[str, str]]
    ) -> list[dict[str, str | None]]: ...


class BatchService:
    def __init__(
        self, customers: Customers, *, lanes: int = DEFAULT_LANES, slots: int = DEFAULT_SLOTS
    ) -> None:
        self._customers = customers
        self._lanes = max(1, lanes)
        self._slots = asyncio.Semaphore(max(1, slots))

    async def run(self, tenant: str, body: object) -> tuple[int, dict[str, Any]]:
        """(200 when every item succeeded, else 207; the §8 result document)."""
        sections = sections_of(body)
        work = [
            (operation, index, item)
            for operation in OPERATIONS
            for index, item in enumerate(sections[operation])
        ]
        results: list[dict[str, Any]] = [{} for _ in work]
        state = _Run(tenant)
        if self._lanes == 1 or len(work) == 1 or in_joined_transaction():
            for position in range(len(work)):
                results[position] = await self._item(state, *work[position])
        else:
            groups = await self._groups(state, [item for _, _, item in work])
            lanes = asyncio.Semaphore(self._lanes)
            await asyncio.gather(
                *(self._group(state, work, positions, results, lanes) for positions in groups)
            )
        failed = sum(1 for result in results if "error" in result)
        document = {"results": results, "succeeded": len(results) - failed, "failed": failed}
        return (207 if failed else 200), document

    async def _groups(self, state: _Run, items: list[Any]) -> list[list[int]]:
        """The items in groups that may run side by side (`dependent_groups`); one group of all
        of them when the stored customers cannot be read (each item then answers for itself)."""
        keys = sorted({key for item in items for key in item_keys(item)})
        try:
            holders = await self._customers.holders_of(state.tenant, keys) if keys else []
        except Unavailable as exc:
            state.down = exc
            return [list(range(len(items)))]
        return dependent_groups(items, holders)

    async def _group(
        self,
        state: _Run,
        work: list[tuple[str, int, Any]],
        positions: list[int],
        results: list[dict[str, Any]],
        lanes: asyncio.Semaphore,
    ) -> None:
        for position in positions:
            async with lanes, self._slots:
                results[position] = await self._item(state, *work[position])

    async def _item(self, state: _Run, operation: str, index: int, item: Any) -> dict[str, Any]:
        result: dict[str, Any] = {"operation": operation, "index": index}
        try:
            if state.down is not None:  # the database is down: don't wait on it 100 times
                raise state.down
            status, customer_id, customer = await self._operation(operation)(state.tenant, item)
        except DomainError as exc:
            if isinstance(exc, Unavailable):
                state.down = exc
            result |= {"status": exc.status, "error": domain_problem(exc, current_request_id())}
        except Exception:  # one item's bug must not hide what the others did
            log.exception("batch item failed", operation=operation, index=index)
            problem = problem_body(
                500,
                "Internal Server Error",
                "The server could not complete this item.",
                type_slug="internal",
                request_id=current_request_id(),
            )
            result |= {"status": 500, "error": problem}
        else:
            result |= {"status": status, "id": customer_id}
            if customer is not None:
                result["customer"] = customer
        return result

    def _operation(self, name: str) -> Callable[[str, Any], Awaitable[Outcome]]:
        return {
            "create": self._create,
            "update": self._update,
            "upsert": self._upsert,
            "delete": self._delete,
        }[name]

    async def _create(self, tenant: str, item: Any) -> Outcome:
        customer = await self._customers.create(tenant, item)
        return 201, customer["id"], customer

    async def _update(self, tenant: str, item: Any) -> Outcome:
        customer = await self._customers.update(tenant, identifier_in_body(item), item)
        return 200, customer["id"], customer

    async def _upsert(self, tenant: str, item: Any) -> Outcome:
        """By id (unknown → 404), else customerRef, else email: a match merges, else creates."""
        identifier = upsert_identifier(item)
        if identifier is not None:
            try:
                return await self._update(tenant, item)
            except NotFound:
                if identifier.kind == "id":
                    raise
        return await self._create(tenant, item)

    async def _delete(self, tenant: str, item: Any) -> Outcome:
        return 204, await self._customers.delete(tenant, delete_identifier(item)), None


class _Run:
    """One batch's tenant, and the database outage an item met (the rest fail at once)."""

    __slots__ = ("down", "tenant")

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.down: Unavailable | None = None
