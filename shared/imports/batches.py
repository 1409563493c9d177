"""All batch SQL shared by the import API and the worker. Every statement takes the tenant as a
parameter; connections come from `shared.db.tenant_transaction`, so row-level security applies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.errors import Conflict
from shared.imports.representation import CREATED, ENDED_STATES

_ENDED_STATES_SQL = ", ".join(f"'{state}'" for state in sorted(ENDED_STATES))

_BATCH_COLUMNS = """
    id, batch_ref, state, source, format, path, file_bytes, total, processed, imported, failed,
    error_message, last_error, requeued_at, created_at, modified_at, completed_at
"""

INSERT_BATCH = f"""
INSERT INTO impex.batches (
    tenant_id, id, batch_ref, state, source, format, path, total, created_at, modified_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
RETURNING {_BATCH_COLUMNS}
"""

# A queue drop names its batch by batchRef: created once, found on every later delivery.
INSERT_BATCH_IF_ABSENT = f"""
INSERT INTO impex.batches (tenant_id, id, batch_ref, state, created_at, modified_at)
VALUES ($1, $2, $3, '{CREATED}', $4, $4)
ON CONFLICT (tenant_id, batch_ref) DO NOTHING
RETURNING {_BATCH_COLUMNS}
"""

SELECT_BATCH = {
    kind: f"SELECT {_BATCH_COLUMNS} FROM impex.batches WHERE tenant_id = $1 AND {column} = $2"
    for kind, column in (("id", "id"), ("batchRef", "batch_ref"))
}

LIST_BATCHES = f"""
SELECT {_BATCH_COLUMNS} FROM impex.batches
WHERE tenant_id = $1 AND ($2::text IS NULL OR batch_ref = $2) AND ($3::text IS NULL OR state = $3)
ORDER BY created_at DESC, id
LIMIT $4 OFFSET $5
"""
COUNT_BATCHES = """
SELECT count(*) FROM impex.batches
WHERE tenant_id = $1 AND ($2::text IS NULL OR batch_ref = $2) AND ($3::text IS NULL OR state = $3)
"""

LIST_ROW_ERRORS = """
SELECT record_no, customer_ref, email, errors FROM impex.batch_errors
WHERE tenant_id = $1 AND batch_id = $2
ORDER BY record_no
LIMIT $3 OFFSET $4
"""
COUNT_ROW_ERRORS = "SELECT count(*) FROM impex.batch_errors WHERE tenant_id = $1 AND batch_id = $2"

SET_CONTENT = f"""
UPDATE impex.batches SET source = $3, format = $4, path = $5, file_bytes = $6, total = $7,
    modified_at = $8
WHERE tenant_id = $1 AND id = $2
RETURNING {_BATCH_COLUMNS}
"""

# completed_at is set when the batch reaches an end state.
SET_STATE = f"""
UPDATE impex.batches SET state = $3::text, error_message = $4, modified_at = $5::timestamptz,
    completed_at = CASE WHEN $3 IN ({_ENDED_STATES_SQL}) THEN $5 END
WHERE tenant_id = $1 AND id = $2
RETURNING {_BATCH_COLUMNS}
"""

SET_REQUEUED_AT = """
UPDATE impex.batches SET requeued_at = processed WHERE tenant_id = $1 AND id = $2
"""

SET_LAST_ERROR = """
UPDATE impex.batches SET last_error = $3 WHERE tenant_id = $1 AND id = $2
"""

NEXT_FILE_SEQ = """
SELECT coalesce(max(seq) + 1, 0) FROM impex.batch_files WHERE tenant_id = $1 AND batch_id = $2
"""
INSERT_FILE_PIECE = """
INSERT INTO impex.batch_files (tenant_id, batch_id, seq, data) VALUES ($1, $2, $3, $4)
"""
SELECT_FILE_PIECES = """
SELECT seq, data FROM impex.batch_files
WHERE tenant_id = $1 AND batch_id = $2 AND seq >= $3
ORDER BY seq
LIMIT $4
"""
DELETE_FILE = "DELETE FROM impex.batch_files WHERE tenant_id = $1 AND batch_id = $2"

# Both are SECURITY DEFINER functions (0007_erasure_and_retention.sql): the scrub, to use its
# lower(email) index under row-level security; the listing, because it spans tenants.
SCRUB_ROW_ERRORS = "SELECT impex.scrub_row_errors($1, $2, $3::text[])"
STALE_CREATED_BATCHES = "SELECT tenant_id, id FROM impex.stale_created_batches($1, $2)"


async def insert_batch(
    conn: asyncpg.Connection,
    tenant: str,
    *,
    batch_ref: str | None,
    now: datetime,
    state: str = "CREATED",
    source: str | None = None,
    file_format: str | None = None,
    total: int | None = None,
) -> asyncpg.Record:
    """A new batch; a batchRef the tenant already uses is a 409 naming it."""
    try:
        return await conn.fetchrow(
            INSERT_BATCH, tenant, uuid.uuid4(), batch_ref, state, source, file_format, None,
            total, now,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise Conflict(
            "Another batch already has this batchRef.", errors={"batchRef": ["already in use"]}
        ) from None


async def insert_batch_if_absent(
    conn: asyncpg.Connection, tenant: str, batch_ref: str, now: datetime
) -> asyncpg.Record | None:
    """The new batch, or None when the tenant already has one with this batchRef."""
    return await conn.fetchrow(INSERT_BATCH_IF_ABSENT, tenant, uuid.uuid4(), batch_ref, now)


async def fetch_batch(
    conn: asyncpg.Connection, tenant: str, kind: str, value: Any, *, for_update: bool = False
) -> asyncpg.Record | None:
    """The batch whose `kind` ("id" or "batchRef") is `value`."""
    query = SELECT_BATCH[kind] + (" FOR UPDATE" if for_update else "")
    return await conn.fetchrow(query, tenant, value)


async def list_batches(
    conn: asyncpg.Connection,
    tenant: str,
    *,
    batch_ref: str | None,
    state: str | None,
    limit: int,
    offset: int,
) -> tuple[list[asyncpg.Record], int]:
    records = await conn.fetch(LIST_BATCHES, tenant, batch_ref, state, limit, offset)
    total = await conn.fetchval(COUNT_BATCHES, tenant, batch_ref, state)
    return records, total


async def list_row_errors(
    conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    records = await conn.fetch(LIST_ROW_ERRORS, tenant, batch_id, limit, offset)
    total = await conn.fetchval(COUNT_ROW_ERRORS, tenant, batch_id)
    return records, total


async def set_content(
    conn: asyncpg.Connection,
    tenant: str,
    batch_id: uuid.UUID,
    *,
    source: str,
    file_format: str,
    path: str | None = None,
    file_bytes: int = 0,
    total: int | None = None,
    now: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(
        SET_CONTENT, tenant, batch_id, source, file_format, path, file_bytes, total, now
    )


async def set_state(
    conn: asyncpg.Connection,
    tenant: str,
    batch_id: uuid.UUID,
    state: str,
    now: datetime,
    *,
    error_message: str | None = None,
) -> asyncpg.Record:
    return await conn.fetchrow(SET_STATE, tenant, batch_id, state, error_message, now)


async def set_last_error(
    conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID, message: str
) -> None:
    await conn.execute(SET_LAST_ERROR, tenant, batch_id, message)


async def set_requeued_at(conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID) -> None:
    await conn.execute(SET_REQUEUED_AT, tenant, batch_id)


async def next_file_seq(conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID) -> int:
    return await conn.fetchval(NEXT_FILE_SEQ, tenant, batch_id)


async def insert_file_piece(
    conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID, seq: int, data: bytes
) -> None:
    await conn.execute(INSERT_FILE_PIECE, tenant, batch_id, seq, data)


async def fetch_file_pieces(
    conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID, from_seq: int, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_FILE_PIECES, tenant, batch_id, from_seq, limit)


async def delete_file(conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID) -> None:
    await conn.execute(DELETE_FILE, tenant, batch_id)


async def scrub_row_errors(
    conn: asyncpg.Connection, tenant: str, *, email: str | None, refs: list[str]
) -> int:
    """Blank the customerRef and email of the tenant's row errors naming a deleted customer by
    its email (case-insensitively) or one of its refs; returns how many were scrubbed."""
    return await conn.fetchval(SCRUB_ROW_ERRORS, tenant, email, refs)


async def stale_created_batches(
    conn: asyncpg.Connection, before: datetime, limit: int
) -> list[tuple[str, uuid.UUID]]:
    """(tenant, batch id) of CREATED batches, any tenant, unchanged since `before`, oldest first."""
    records = await conn.fetch(STALE_CREATED_BATCHES, before, limit)
    return [(record["tenant_id"], record["id"]) for record in records]
