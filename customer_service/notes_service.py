"""Customer notes: free text a retailer keeps about a customer, gone with the customer."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import asyncpg
from marshmallow import ValidationError

from customer_service import notes_repository, repository
from customer_service.service import Identifier
from shared.db import tenant_transaction
from shared.errors import InvalidInput, NotFound
from shared.schemas import flatten_errors
from shared.schemas.notes import NoteTextSchema
from shared.timefmt import iso_ms, utcnow

_NOTE_TEXT = NoteTextSchema()


def _note_text(body: object) -> str:
    try:
        return _NOTE_TEXT.load(body if isinstance(body, Mapping) else {"_": body})["note"]
    except ValidationError as exc:
        raise InvalidInput("The note is not valid.", errors=flatten_errors(exc.messages)) from None


def _note_id(raw: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound("No such note.") from None


def render_note(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(record["id"]),
        "customerId": str(record["customer_id"]),
        "customerRef": record["customer_ref"],
        "note": record["note"],
        "createdDate": iso_ms(record["created_at"]),
        "lastModifiedDate": iso_ms(record["last_modified_at"]),
    }


def _customer_in_body(body: object) -> Identifier:
    if isinstance(body, Mapping):
        if isinstance(body.get("customerId"), str) and body["customerId"]:
            return Identifier("id", body["customerId"])
        if isinstance(body.get("customerRef"), str) and body["customerRef"]:
            return Identifier("customerRef", body["customerRef"])
    raise InvalidInput(
        "Name the note's customer by customerId or customerRef.",
        errors={"customerId": ["One of customerId or customerRef is required."]},
    )


class NoteService:
    def __init__(self, pool: asyncpg.Pool, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._pool = pool
        self._clock = clock

    async def create(self, tenant: str, body: object) -> dict[str, Any]:
        customer = _customer_in_body(body)
        text = _note_text(body)
        async with tenant_transaction(self._pool, tenant) as conn:
            # Locked until the note commits: a delete racing this insert either waits for the
            # note (and deletes it with the other notes) or wins, and the note is a 404.
            customer_id = await self._customer_id(conn, tenant, customer, for_share=True)
            note_id = await notes_repository.insert(conn, tenant, customer_id, text, self._clock())
            record = await notes_repository.fetch(conn, tenant, note_id)
        return render_note(record)

    async def update(self, tenant: str, body: object) -> dict[str, Any]:
        if not isinstance(body, Mapping) or not body.get("id"):
            raise InvalidInput("Name the note by id.", errors={"id": ["Missing data for field."]})
        note_id = _note_id(body["id"])
        text = _note_text(body)
        async with tenant_transaction(self._pool, tenant) as conn:
            if await notes_repository.fetch(conn, tenant, note_id) is None:
                raise NotFound("No such note.")
            # False when a delete of the note (or of its customer) committed meanwhile.
            if not await notes_repository.update(conn, tenant, note_id, text, self._clock()):
                raise NotFound("No such note.")
            record = await notes_repository.fetch(conn, tenant, note_id)
        return render_note(record)

    async def get(self, tenant: str, raw_id: str) -> dict[str, Any]:
        async with tenant_transaction(self._pool, tenant) as conn:
            record = await notes_repository.fetch(conn, tenant, _note_id(raw_id))
        if record is None:
            raise NotFound("No such note.")
        return render_note(record)

    async def delete(self, tenant: str, raw_id: str) -> None:
        async with tenant_transaction(self._pool, tenant) as conn:
            if not await notes_repository.delete(conn, tenant, _note_id(raw_id)):
                raise NotFound("No such note.")

    async def list_of_customer(self, tenant: str, customer: Identifier) -> list[dict[str, Any]]:
        """Newest first; an unknown customer is a 404, a customer without notes an empty list."""
        async with tenant_transaction(self._pool, tenant) as conn:
            customer_id = await self._customer_id(conn, tenant, customer)
            records = await notes_repository.fetch_of_customer(conn, tenant, customer_id)
        return [render_note(record) for record in records]

    async def delete_of_customer(self, tenant: str, customer: Identifier) -> None:
        async with tenant_transaction(self._pool, tenant) as conn:
            customer_id = await self._customer_id(conn, tenant, customer)
            await notes_repository.delete_of_customer(conn, tenant, customer_id)

    @staticmethod
    async def _customer_id(
        conn: asyncpg.Connection, tenant: str, customer: Identifier, *, for_share: bool = False
    ) -> uuid.UUID:
        record = await repository.fetch_by(
            conn, tenant, customer.kind, customer.lookup_value(), for_share=for_share
        )
        if record is None:
            raise NotFound("No such customer.")
        return record["id"]
