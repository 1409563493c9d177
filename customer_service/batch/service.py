"""The batch use case: each item through its single endpoint's use case, in its own
transaction, so one failing item never undoes another and later items see earlier ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from customer_service.batch.items import (
    OPERATIONS,
    delete_identifier,
    sections_of,
    upsert_identifier,
)
from customer_service.service import CustomerService, identifier_in_body
from shared.errors import DomainError, NotFound, Unavailable
from shared.log import current_request_id
from shared.web import domain_problem, problem_body

log = structlog.get_logger("batch")

Outcome = tuple[int, str, dict[str, Any] | None]  # status, customer id, customer


class BatchService:
    def __init__(self, customers: CustomerService) -> None:
        self._customers = customers

    async def run(self, tenant: str, body: object) -> tuple[int, dict[str, Any]]:
        """(200 when every item succeeded, else 207; the §8 result document)."""
        sections = sections_of(body)
        results: list[dict[str, Any]] = []
        down: Unavailable | None = None
        for operation in OPERATIONS:
            apply = self._operation(operation)
            for index, item in enumerate(sections[operation]):
                result: dict[str, Any] = {"operation": operation, "index": index}
                try:
                    if down is not None:  # the database is down: don't wait on it 100 times
                        raise down
                    status, customer_id, customer = await apply(tenant, item)
                except DomainError as exc:
                    if isinstance(exc, Unavailable):
                        down = exc
                    problem = domain_problem(exc, current_request_id())
                    result |= {"status": exc.status, "error": problem}
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
                results.append(result)
        failed = sum(1 for result in results if "error" in result)
        document = {"results": results, "succeeded": len(results) - failed, "failed": failed}
        return (207 if failed else 200), document

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
