"""The export use case: read every store, then render; any store down is a 503 (an export is
never partial)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from customer_service import repository as customers
from customer_service.export import repository
from customer_service.export.document import render_export
from customer_service.export.sources import ExportSources
from customer_service.service import Identifier
from shared.customers.representation import render_customer
from shared.db import CONNECTION_ERRORS, connection, tenant_transaction
from shared.errors import NotFound, Unavailable
from shared.orders.service import spend_of
from shared.timefmt import utcnow


class ExportService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        wishlist_pool: asyncpg.Pool,
        *,
        sources: ExportSources | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._pool = pool
        self._wishlist_pool = wishlist_pool
        self._sources = sources or ExportSources()
        self._clock = clock

    async def export(self, tenant: str, raw_id: str) -> dict[str, Any]:
        """The §9 document of the live customer `raw_id`; unknown, deleted or foreign → 404."""
        customer_id = Identifier("id", raw_id).lookup_value()
        async with tenant_transaction(self._pool, tenant) as conn:
            record = await customers.fetch_by(conn, tenant, "id", customer_id)
            if record is None:
                raise NotFound("No such customer.")
            notes = await repository.notes(conn, tenant, customer_id)
            refs = [record[c] for c in ("customer_ref", "alternate_customer_ref") if record[c]]
            import_errors = await repository.import_errors(conn, tenant, record["email"], refs)
            orders = await self._sources.orders(conn, tenant, customer_id)
            account = await self._sources.account(conn, tenant, customer_id)
            spend = await spend_of(conn, tenant, [record["id"]], self._clock())
        wishlists, items = await self._wishlists(tenant, customer_id)
        return render_export(
            tenant=tenant,
            now=self._clock(),
            customer=render_customer(record, spend[record["id"]]),
            notes=notes,
            wishlists=wishlists,
            items=items,
            orders=orders,
            account=account,
            import_errors=import_errors,
        )

    async def _wishlists(self, tenant: str, customer_id: uuid.UUID) -> tuple[list, list]:
        try:
            async with connection(self._wishlist_pool) as conn:
                return await repository.wishlists(conn, tenant, customer_id)
        except CONNECTION_ERRORS as exc:
            raise Unavailable("The wishlist store is not available.") from exc
