"""Import use cases of the API: each opens one tenant transaction and commits once.

A batch's content (an uploaded file, or records added one by one) is stored in PostgreSQL in
pieces, so whichever worker replica takes the batch can read it. READY writes the queue message
through the outbox in the same transaction, so a batch is queued if and only if it is READY.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Callable, Mapping
from datetime import datetime
from typing import Any

import asyncpg

from customer_service.imports import inputs
from shared.db import tenant_transaction
from shared.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from shared.imports import batches as repository
from shared.imports.lifecycle import end_batch, queue_batch
from shared.imports.representation import (
    ABORTED,
    BATCH_STATES,
    CREATED,
    ENDED_STATES,
    PROCESSING,
    READY,
    render_batch,
    render_page,
    render_row_error,
)
from shared.timefmt import utcnow

FORMAT_BY_MEDIA_TYPE = {
    "text/csv": "csv",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/json": "json",
}
MAX_FILE_BYTES = 1024 * 1024 * 1024
# Pieces of this size are written as the upload arrives: memory stays at about one piece.
FILE_PIECE_BYTES = 1024 * 1024
ABORTED_MESSAGE = "Aborted by the client."


def _file_format(media_type: str) -> str:
    file_format = FORMAT_BY_MEDIA_TYPE.get(media_type)
    if file_format is None:
        raise UnsupportedMediaType(
            f"Expected text/csv, application/x-ndjson or application/json, got "
            f"{media_type or 'none'}."
        )
    return file_format


class ImportService:
    def __init__(self, pool: asyncpg.Pool, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._pool = pool
        self._clock = clock

    async def create_batch(self, tenant: str, body: object) -> dict[str, Any]:
        batch_ref = inputs.batch_ref_of(body)
        async with tenant_transaction(self._pool, tenant) as conn:
            record = await repository.insert_batch(
                conn, tenant, batch_ref=batch_ref, now=self._clock()
            )
        return render_batch(record)

    async def get(self, tenant: str, raw_id: str) -> dict[str, Any]:
        async with tenant_transaction(self._pool, tenant) as conn:
            record = await self._find(conn, tenant, ("id", inputs.batch_id_of(raw_id)))
        return render_batch(record)

    async def list(self, tenant: str, query: Mapping[str, str]) -> dict[str, Any]:
        page, size = inputs.paging(query)
        state = query.get("state") or None
        if state is not None and state not in BATCH_STATES:
            raise InvalidInput(
                "Unknown batch state.", errors={"state": [f"One of {', '.join(BATCH_STATES)}."]}
            )
        batch_ref = query.get("batchRef") or None
        if batch_ref is not None and not inputs.storable(batch_ref):  # then no batch has it
            return render_page([], page=page, page_size=size, total=0)
        async with tenant_transaction(self._pool, tenant) as conn:
            records, total = await repository.list_batches(
                conn, tenant, batch_ref=batch_ref, state=state,
                limit=size, offset=page * size,
            )  # fmt: skip
        results = [render_batch(r) for r in records]
        return render_page(results, page=page, page_size=size, total=total)

    async def row_errors(
        self, tenant: str, raw_id: str, query: Mapping[str, str]
    ) -> dict[str, Any]:
        page, size = inputs.paging(query)
        batch_id = inputs.batch_id_of(raw_id)
        async with tenant_transaction(self._pool, tenant) as conn:
            await self._find(conn, tenant, ("id", batch_id))
            records, total = await repository.list_row_errors(
                conn, tenant, batch_id, limit=size, offset=page * size
            )
        return render_page(
            [render_row_error(r) for r in records], page=page, page_size=size, total=total
        )

    async def check_upload(self, tenant: str, raw_id: str, media_type: str) -> None:
        """What refuses an upload before its body is received: its media type (415), no such
        batch (404), a batch past CREATED (409). `upload_file` checks them again."""
        _file_format(media_type)
        async with tenant_transaction(self._pool, tenant) as conn:
            batch = await self._find(conn, tenant, ("id", inputs.batch_id_of(raw_id)))
        self._require_created(batch, "upload a file")

    async def upload_file(
        self, tenant: str, raw_id: str, media_type: str, body: AsyncIterable[bytes]
    ) -> dict[str, Any]:
        """Store the body as the batch's file (replacing any content), in pieces. It holds a
        connection and the batch's row lock until stored: give it a body already received
        (`customer_service.imports.uploads.spooled`), never one still arriving."""
        file_format = _file_format(media_type)
        batch_id = inputs.batch_id_of(raw_id)
        async with tenant_transaction(self._pool, tenant) as conn:
            batch = await self._find(conn, tenant, ("id", batch_id), for_update=True)
            self._require_created(batch, "upload a file")
            await repository.delete_file(conn, tenant, batch_id)
            size = await self._store_pieces(conn, tenant, batch_id, body)
            if size == 0:
                raise InvalidInput("The file is empty.", errors={"_body": ["Empty file."]})
            record = await repository.set_content(
                conn, tenant, batch_id, source="upload", file_format=file_format,
                file_bytes=size, now=self._clock(),
            )  # fmt: skip
        return render_batch(record)

    @staticmethod
    async def _store_pieces(
        conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID, body: AsyncIterable[bytes]
    ) -> int:
        size, seq, pending = 0, 0, bytearray()
        async for data in body:
            size += len(data)
            if size > MAX_FILE_BYTES:
                raise PayloadTooLarge(f"The file exceeds {MAX_FILE_BYTES} bytes.")
            pending += data
            while len(pending) >= FILE_PIECE_BYTES:
                piece = bytes(pending[:FILE_PIECE_BYTES])
                del pending[:FILE_PIECE_BYTES]
                await repository.insert_file_piece(conn, tenant, batch_id, seq, piece)
                seq += 1
        if pending:
            await repository.insert_file_piece(conn, tenant, batch_id, seq, bytes(pending))
        return size

    async def add_resources(self, tenant: str, body: object) -> dict[str, Any] | list[dict]:
        """Append records to CREATED batches; each answer names the record's row number."""
        records = inputs.resource_records(body)
        now = self._clock()
        added: list[dict[str, Any]] = []
        async with tenant_transaction(self._pool, tenant) as conn:
            by_batch: dict[tuple[str, Any], list[int]] = {}
            for index, (batch, _customer) in enumerate(records):
                by_batch.setdefault(batch, []).append(index)
            answers: dict[int, dict[str, Any]] = {}
            for batch_name, indexes in by_batch.items():
                batch = await self._find(conn, tenant, batch_name, for_update=True)
                self._require_created(batch, "add records")
                if batch["source"] not in (None, "records"):
                    raise Conflict("The batch holds an uploaded file; records cannot be added.")
                data = inputs.ndjson([records[i][1] for i in indexes])
                seq = await repository.next_file_seq(conn, tenant, batch["id"])
                await repository.insert_file_piece(conn, tenant, batch["id"], seq, data)
                first_row = (batch["total"] or 0) + 1
                await repository.set_content(
                    conn, tenant, batch["id"], source="records", file_format="ndjson",
                    file_bytes=batch["file_bytes"] + len(data),
                    total=(batch["total"] or 0) + len(indexes), now=now,
                )  # fmt: skip
                for offset, index in enumerate(indexes):
                    answers[index] = {
                        "batchId": str(batch["id"]),
                        "batchRef": batch["batch_ref"],
                        "entityType": inputs.ENTITY_TYPE,
                        "row": first_row + offset,
                    }
            added = [answers[i] for i in range(len(records))]
        return added if isinstance(body, list) else added[0]

    async def upload_customers(self, tenant: str, body: object) -> dict[str, Any]:
        """`POST /upload-customers`: a READY batch of the array's records, queued at once."""
        if not isinstance(body, list):
            raise InvalidInput(
                "Expected a JSON array of customers.", errors={"_body": ["Expected an array."]}
            )
        now = self._clock()
        data = inputs.ndjson(body)
        async with tenant_transaction(self._pool, tenant) as conn:
            batch = await repository.insert_batch(
                conn, tenant, batch_ref=None, now=now, state=CREATED, source="records",
                file_format="ndjson", total=len(body),
            )  # fmt: skip
            if data:
                await repository.insert_file_piece(conn, tenant, batch["id"], 0, data)
            record = await self._queue(conn, tenant, batch["id"], now)
        return render_batch(record)

    async def change_state(self, tenant: str, query: Mapping[str, str]) -> dict[str, Any]:
        """READY queues a CREATED batch; ABORTED stops one that has not ended. Asking for the
        state a batch is already in (or, for READY, already past) changes nothing."""
        batch_name = inputs.batch_named_by(query)
        wanted = query.get("state")
        if wanted not in (READY, ABORTED):
            raise InvalidInput(
                "Unknown target state.", errors={"state": ["One of READY, ABORTED."]}
            )
        now = self._clock()
        async with tenant_transaction(self._pool, tenant) as conn:
            batch = await self._find(conn, tenant, batch_name, for_update=True)
            state = batch["state"]
            if wanted == READY:
                if state in (READY, PROCESSING):
                    return render_batch(batch)
                self._require_created(batch, "mark it READY")
                if batch["source"] is None:
                    raise Conflict("The batch has no file or records to import.")
                record = await self._queue(conn, tenant, batch["id"], now)
            else:
                if state == ABORTED:
                    return render_batch(batch)
                if state in ENDED_STATES:
                    raise Conflict(f"The batch has already ended ({state}).")
                record = await end_batch(
                    conn, tenant, batch["id"], ABORTED, now, error_message=ABORTED_MESSAGE
                )
        return render_batch(record)

    @staticmethod
    async def _queue(
        conn: asyncpg.Connection, tenant: str, batch_id: uuid.UUID, now: datetime
    ) -> asyncpg.Record:
        record = await repository.set_state(conn, tenant, batch_id, READY, now)
        await queue_batch(conn, tenant, batch_id)
        return record

    @staticmethod
    def _require_created(batch: Mapping[str, Any], action: str) -> None:
        if batch["state"] != CREATED:
            raise Conflict(f"Cannot {action}: the batch is {batch['state']}, not {CREATED}.")

    @staticmethod
    async def _find(
        conn: asyncpg.Connection,
        tenant: str,
        batch_name: tuple[str, Any],
        *,
        for_update: bool = False,
    ) -> asyncpg.Record:
        kind, value = batch_name
        record = await repository.fetch_batch(conn, tenant, kind, value, for_update=for_update)
        if record is None:
            raise NotFound("No such batch.")
        return record
