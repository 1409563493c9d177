"""Queue drops: the batch named by batchRef is created (or found again on a redelivery), given
the dropped content and queued; a refused drop ends it ERROR with the reason."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg
import orjson
import structlog

from customer_service.imports import repository as batches
from customer_service.imports.representation import CREATED, ERROR, READY
from customer_service.imports.service import end_batch
from impex_worker.imports.messages import DropFile, DropRecords, DropRefused
from impex_worker.imports.sources import PathRefused, resolve_drop_path
from shared import metrics
from shared.db import tenant_transaction
from shared.timefmt import utcnow

log = structlog.get_logger("imports")

Drop = DropFile | DropRecords | DropRefused


async def accept_drop(
    pool: asyncpg.Pool,
    drop: Drop,
    *,
    drop_dir: str,
    clock: Callable[[], datetime] = utcnow,
) -> uuid.UUID | None:
    """The id of the batch to import now, or None when the drop was refused."""
    tenant, now = drop.tenant, clock()
    async with tenant_transaction(pool, tenant) as conn:
        batch = await batches.insert_batch_if_absent(conn, tenant, drop.batch_ref, now)
        if batch is None:
            batch = await batches.fetch_batch(
                conn, tenant, "batchRef", drop.batch_ref, for_update=True
            )
        structlog.contextvars.bind_contextvars(batch_id=str(batch["id"]))
        if batch["state"] != CREATED:
            return batch["id"]  # a redelivery: resume it (or find it ended)
        reason = _refusal(drop, drop_dir)
        if reason is not None:
            log.warning("queue drop refused", reason=reason)
            await end_batch(conn, tenant, batch["id"], ERROR, now, error_message=reason)
        else:
            await _fill(conn, drop, batch["id"], now)
    if reason is not None:
        metrics.IMPORT_BATCHES.labels(ERROR).inc()  # once it is committed
        return None
    return batch["id"]


async def _fill(conn: asyncpg.Connection, drop: Drop, batch_id: uuid.UUID, now: datetime) -> None:
    """Give the batch the dropped content and queue it (READY)."""
    tenant = drop.tenant
    await batches.delete_file(conn, tenant, batch_id)
    if isinstance(drop, DropRecords):
        data = b"".join(orjson.dumps(record) + b"\n" for record in drop.records)
        if data:
            await batches.insert_file_piece(conn, tenant, batch_id, 0, data)
        await batches.set_content(
            conn, tenant, batch_id, source="records", file_format="ndjson",
            file_bytes=len(data), total=len(drop.records), now=now,
        )  # fmt: skip
    elif isinstance(drop, DropFile):
        await batches.set_content(
            conn, tenant, batch_id, source="path", file_format=drop.file_format,
            path=drop.path, now=now,
        )  # fmt: skip
    await batches.set_state(conn, tenant, batch_id, READY, now)


def _refusal(drop: Drop, drop_dir: str) -> str | None:
    if isinstance(drop, DropRefused):
        return drop.reason
    if isinstance(drop, DropFile):
        try:
            resolve_drop_path(drop.path, drop_dir)
        except PathRefused as exc:
            return str(exc)
    return None
