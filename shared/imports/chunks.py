"""An import chunk's SQL: set-based, a handful of statements per chunk whatever its size; the
checkpoint (the batch's counters) moves in the same transaction.

Every statement takes the tenant as a parameter and runs in `shared.db.tenant_transaction`
(row-level security applies). Customers go through a temporary staging table filled with COPY:
COPY cannot write to tables with row-level security, INSERT ... SELECT and UPDATE ... FROM can.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.amqp import CUSTOMER_EVENTS_EXCHANGE
from shared.customers.columns import CUSTOMER_COLUMNS as _CUSTOMER_COLUMNS
from shared.imports.representation import PROCESSING


@dataclass(slots=True)
class Row:
    """A customer row to write: its id, column values and jsonb profile."""

    id: uuid.UUID
    columns: dict[str, Any]
    profile: dict[str, Any]


@dataclass(slots=True)
class RowError:
    """A record that was not imported, and why (`errors` maps field paths to messages)."""

    row: int
    customer_ref: str | None
    email: str | None
    errors: dict[str, list[str]]


_STAGED_COLUMNS = (
    "id", "customer_ref", "alternate_customer_ref", "email", "first_name", "last_name",
    "mobile", "phone", "profile",
)  # fmt: skip

# Every live customer the chunk may match (customerRef, email) or collide with (all three
# unique identifiers), locked until the chunk commits. Each key is looked up on its own unique
# index (a LATERAL with LIMIT keeps the planner from flattening that into a join), then the
# customers by primary key: during a bulk import the tenant grows faster than its statistics,
# and a plain `customer_ref = ANY(...) OR ...` was planned as a scan of the whole tenant per
# chunk (quadratic). Emails go through customer.live_customer_ids_by_email (see
# 0003_imports.sql: under row-level security an email condition could not use its index).
_BY_KEY = """
    SELECT m.id FROM unnest({keys}::text[]) AS k (value), LATERAL (
        SELECT c.id FROM customer.customers AS c
        WHERE c.tenant_id = $1 AND NOT c.deleted AND c.{column} = k.value LIMIT 1
    ) AS m
"""
FETCH_MATCHES = f"""
SELECT {_CUSTOMER_COLUMNS} FROM customer.customers
WHERE tenant_id = $1 AND NOT deleted AND id = ANY (ARRAY(
    {_BY_KEY.format(keys="$2", column="customer_ref")}
    UNION ALL
    {_BY_KEY.format(keys="$4", column="alternate_customer_ref")}
    UNION ALL
    SELECT customer.live_customer_ids_by_email($1, $3::text[])
))
FOR UPDATE
"""

# Lives as long as the pooled connection; emptied by every commit.
CREATE_STAGE = """
CREATE TEMPORARY TABLE IF NOT EXISTS import_stage (
    id uuid NOT NULL, customer_ref text, alternate_customer_ref text, email text,
    first_name text, last_name text, mobile text, phone text, profile jsonb NOT NULL,
    is_new boolean NOT NULL
) ON COMMIT DELETE ROWS
"""
CLEAR_STAGE = "DELETE FROM pg_temp.import_stage"

# Updates first: a customer may give up an email that a new customer of the same chunk takes.
UPDATE_FROM_STAGE = """
UPDATE customer.customers AS c SET
    customer_ref = s.customer_ref, alternate_customer_ref = s.alternate_customer_ref,
    email = s.email, first_name = s.first_name, last_name = s.last_name, mobile = s.mobile,
    phone = s.phone, profile = s.profile, last_modified_at = $2
FROM pg_temp.import_stage AS s
WHERE NOT s.is_new AND c.tenant_id = $1 AND c.id = s.id AND NOT c.deleted
"""
INSERT_FROM_STAGE = """
INSERT INTO customer.customers (
    tenant_id, id, customer_ref, alternate_customer_ref, email, first_name, last_name,
    mobile, phone, profile, created_at, last_modified_at
)
SELECT $1, id, customer_ref, alternate_customer_ref, email, first_name, last_name,
    mobile, phone, profile, $2, $2
FROM pg_temp.import_stage WHERE is_new
"""

INSERT_ROW_ERRORS = """
INSERT INTO impex.batch_errors (tenant_id, batch_id, record_no, customer_ref, email, errors)
SELECT $1, $2, u.record_no, u.customer_ref, u.email, u.errors
FROM unnest($3::integer[], $4::text[], $5::text[], $6::jsonb[])
    AS u (record_no, customer_ref, email, errors)
"""

LOCK_BATCH = """
SELECT state, processed FROM impex.batches WHERE tenant_id = $1 AND id = $2 FOR UPDATE
"""
# The checkpoint: moves only from where this worker started the chunk.
ADVANCE = f"""
UPDATE impex.batches SET
    processed = processed + $4, imported = imported + $5, failed = failed + $6,
    modified_at = $7, last_error = NULL
WHERE tenant_id = $1 AND id = $2 AND processed = $3 AND state = '{PROCESSING}'
"""
SET_TOTAL = f"""
UPDATE impex.batches SET total = $3, modified_at = $4
WHERE tenant_id = $1 AND id = $2 AND state = '{PROCESSING}'
"""

_LOCK_NAMESPACE = b"customer-suite:impex-batch:"

# An import writes an event per chunk, still many for a big file: the relay publishes them after
# every priority-0 event (interactive changes, queued batches, batch events), which would
# otherwise wait behind the whole backlog (0005_outbox_priority.sql).
BULK_EVENT_PRIORITY = 1


def batch_lock_key(tenant: str, batch_id: uuid.UUID) -> int:
    """A 64-bit advisory lock key for one batch (a hash: collisions are astronomically rare,
    and would only make two batches take turns)."""
    digest = hashlib.blake2b(_LOCK_NAMESPACE + f"{tenant}:{batch_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


async def lock_batch(
    conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(LOCK_BATCH, tenant, batch_id)


async def refresh_statistics(pool: asyncpg.Pool) -> None:
    """ANALYZE the customers table. While an import grows a tenant faster than autovacuum
    re-samples it, the planner believes the tenant nearly empty, so any tenant-first index looks
    as good as the right one for a match by key: a 500-key chunk then scanned the tenant's
    every row per key (2 s a chunk at 20,000 rows, growing). Called after chunks 1, 2, 4, 8, …
    of a run, the estimate is never off by more than about twice; ANALYZE samples a fixed
    number of rows, so each costs well under a second whatever the table's size."""
    async with pool.acquire() as conn:
        # As the owner (0008): the worker's own login may not ANALYZE.
        await conn.execute("SELECT customer.analyze_customers()")


async def fetch_matches(
    conn: asyncpg.Connection,
    tenant: str,
    refs: Sequence[str],
    emails: Sequence[str],
    alternates: Sequence[str],
) -> list[asyncpg.Record]:
    return await conn.fetch(FETCH_MATCHES, tenant, refs, emails, alternates)


async def write_customers(
    conn: asyncpg.Connection,
    tenant: str,
    inserts: Sequence[Row],
    updates: Sequence[Row],
    now: datetime,
) -> None:
    """Stage the rows with one COPY, then one UPDATE and one INSERT."""
    if not inserts and not updates:
        return
    await conn.execute(CREATE_STAGE)
    await conn.execute(CLEAR_STAGE)
    await conn.copy_records_to_table(
        "import_stage",
        schema_name="pg_temp",
        columns=[*_STAGED_COLUMNS, "is_new"],
        records=[
            *(_staged(row, True) for row in inserts),
            *(_staged(row, False) for row in updates),
        ],
    )
    if updates:
        await conn.execute(UPDATE_FROM_STAGE, tenant, now)
    if inserts:
        await conn.execute(INSERT_FROM_STAGE, tenant, now)


def _staged(row: Row, is_new: bool) -> tuple[Any, ...]:
    c = row.columns
    return (
        row.id, c["customer_ref"], c["alternate_customer_ref"], c["email"], c["first_name"],
        c["last_name"], c["mobile"], c["phone"], row.profile, is_new,
    )  # fmt: skip


async def add_events(
    conn: asyncpg.Connection, tenant: str, events: Sequence[dict[str, Any]]
) -> None:
    """The chunk's `customer.imported` events into the outbox with one COPY (it has no row-level
    security); the relay publishes them once the chunk commits, after every waiting event of
    priority 0 (BULK_EVENT_PRIORITY)."""
    if not events:
        return
    await conn.copy_records_to_table(
        "outbox",
        schema_name="customer",
        columns=["event_id", "tenant_id", "exchange", "routing_key", "payload", "priority"],
        # asyncpg encodes a uuid column from its text as well: no UUID object per event.
        records=[
            (e["eventId"], tenant, CUSTOMER_EVENTS_EXCHANGE, e["type"], e, BULK_EVENT_PRIORITY)
            for e in events
        ],
    )


async def add_row_errors(
    conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID, errors: Sequence[RowError]
) -> None:
    if not errors:
        return
    await conn.execute(
        INSERT_ROW_ERRORS,
        tenant,
        batch_id,
        [e.row for e in errors],
        [e.customer_ref for e in errors],
        [e.email for e in errors],
        [e.errors for e in errors],
    )


async def advance(
    conn: asyncpg.Connection,
    tenant: str,
    batch_id: uuid.UUID,
    *,
    start: int,
    processed: int,
    imported: int,
    failed: int,
    now: datetime,
) -> bool:
    """Move the checkpoint from `start`; False if it is no longer there (another worker)."""
    status = await conn.execute(ADVANCE, tenant, batch_id, start, processed, imported, failed, now)
    return status == "UPDATE 1"


async def set_total(
    conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID, total: int, now: datetime
) -> None:
    await conn.execute(SET_TOTAL, tenant, batch_id, total, now)
