"""Helpers for import tests: files in the three formats, a batch started through the gateway,
and reading what an import left."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import asyncpg
import orjson

ENDED = ("COMPLETED", "ERROR", "ABORTED")
# The import API's public path (through the gateway).
GATEWAY_IMPORT = "/services/impex/api/import"


async def uploaded_csv_batch(
    http: aiohttp.ClientSession, base_url: str, headers: Mapping[str, str], data: bytes
) -> str:
    """A batch created and its CSV uploaded through the gateway (each step asserted): its id."""
    async with http.post(f"{base_url}{GATEWAY_IMPORT}/batch", json={}, headers=headers) as r:
        assert r.status == 201, await r.text()
        batch_id = (await r.json())["id"]
    async with http.post(
        f"{base_url}{GATEWAY_IMPORT}/batch/{batch_id}/file",
        data=data,
        headers={**headers, "Content-Type": "text/csv"},
    ) as response:
        assert response.status == 202, await response.text()
    return batch_id


async def mark_ready(
    http: aiohttp.ClientSession, base_url: str, headers: Mapping[str, str], batch_id: str
) -> None:
    """The batch set READY through the gateway: from here the worker imports it."""
    async with http.put(
        f"{base_url}{GATEWAY_IMPORT}/batch/state-change",
        params={"batchId": batch_id, "state": "READY"},
        headers=headers,
    ) as response:
        assert response.status == 200, await response.text()


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[str]], *, bom: bool = False) -> bytes:
    """A CSV file (CRLF line ends, minimal quoting) as a client would produce it."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()


def ndjson_bytes(records: Sequence[Any]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def json_bytes(records: Sequence[Any]) -> bytes:
    return orjson.dumps(list(records), option=orjson.OPT_INDENT_2)


async def customers_of(conn: asyncpg.Connection, tenant: str) -> dict[str, asyncpg.Record]:
    """The tenant's live customers by lower-cased email."""
    rows = await conn.fetch(
        "SELECT * FROM customer.customers WHERE tenant_id = $1 AND NOT deleted", tenant
    )
    return {row["email"].lower(): row for row in rows}


async def events_of(conn: asyncpg.Connection, tenant: str, routing_key: str) -> list[dict]:
    rows = await conn.fetch(
        "SELECT payload FROM customer.outbox WHERE tenant_id = $1 AND routing_key = $2 ORDER BY id",
        tenant,
        routing_key,
    )
    return [row["payload"] for row in rows]


async def imported_of(conn: asyncpg.Connection, tenant: str) -> tuple[list[dict], list[dict]]:
    """The customers the tenant's `customer.imported` events name: (created, updated)."""
    events = await events_of(conn, tenant, "customer.imported")
    created = [entry for event in events for entry in event["created"]]
    updated = [entry for event in events for entry in event["updated"]]
    return created, updated


async def batch_row(conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT * FROM impex.batches WHERE tenant_id = $1 AND id = $2", tenant, batch_id
    )


async def row_errors(conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID) -> list[dict]:
    rows = await conn.fetch(
        "SELECT record_no, customer_ref, email, errors FROM impex.batch_errors "
        "WHERE tenant_id = $1 AND batch_id = $2 ORDER BY record_no",
        tenant,
        batch_id,
    )
    return [dict(row) for row in rows]


def profile_of(row: Mapping[str, Any]) -> dict[str, Any]:
    return dict(row["profile"])
