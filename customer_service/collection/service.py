"""Collection use cases: a page of customers, a count, a search. Each reads in one tenant
transaction, so a page and its total come from the same moment's data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from customer_service.collection import repository
from customer_service.collection.params import (
    filters_of,
    page_of,
    search_of,
    sort_of,
)
from shared.customers.representation import render_customer
from shared.db import tenant_transaction
from shared.imports.representation import render_page
from shared.orders import service as orders
from shared.timefmt import utcnow


class CollectionService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list(self, tenant: str, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /customers: a page (§1) of full customers, filtered and sorted."""
        page, sort, conditions = page_of(query), sort_of(query), filters_of(query)
        now = utcnow()
        async with tenant_transaction(self._pool, tenant) as conn:
            records, total = await repository.list_page(
                conn, tenant, conditions, sort, page, orders.window_since(now)
            )
        return _render(records, now, page.number, page.size, total)

    async def count(self, tenant: str, query: Mapping[str, str]) -> dict[str, int]:
        """GET /customers/count: how many live customers the filters select."""
        conditions = filters_of(query)
        async with tenant_transaction(self._pool, tenant) as conn:
            return {"count": await repository.count(conn, tenant, conditions)}

    async def search(self, tenant: str, query: Mapping[str, str], body: object) -> dict[str, Any]:
        """POST /customers/search: the body's criteria ANDed, paged and sorted like the list."""
        page, sort, search = page_of(query), sort_of(query), search_of(body)
        now = utcnow()
        window = orders.window_since(now)
        async with tenant_transaction(self._pool, tenant) as conn:
            if search.pattern is None:
                records, total = await repository.list_page(
                    conn, tenant, search.conditions, sort, page, window
                )
            else:
                records, total = await repository.search_page(
                    conn, tenant, search, sort, page, window
                )
        return _render(records, now, page.number, page.size, total)


def _render(records: list[Any], now: datetime, page: int, size: int, total: int) -> dict[str, Any]:
    """The page of customers, each with its computed spend fields (API.md §11) from the figures
    its row carries."""
    customers = [render_customer(record, orders.spend_of_row(record, now)) for record in records]
    return render_page(customers, page=page, page_size=size, total=total)
