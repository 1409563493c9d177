"""Customer use cases. Each opens one tenant transaction, applies the rules, writes the change
and its outbox event, and commits once."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from customer_service import idempotency_records, notes_repository, repository
from customer_service.address_rules import with_address_id, with_address_ids
from customer_service.etags import IfMatch
from shared.amqp import CUSTOMER_CREATED, CUSTOMER_DELETED, CUSTOMER_UPDATED
from shared.customers.events import customer_event
from shared.customers.limits import check_limits
from shared.customers.representation import render_customer, split_state, state_from_record
from shared.customers.rules import (
    MAX_ADDRESSES,
    add_address,
    merge_customer,
    same_customer,
    update_address,
)
from shared.db import tenant_fetchrow, tenant_transaction
from shared.errors import InvalidInput, NotFound
from shared.imports import batches
from shared.orders import service as orders
from shared.schemas import CustomerValidationError, load_address, load_customer
from shared.schemas.compiled import load_plain_customer
from shared.timefmt import utcnow

# How a use case answers: the stored row (in its transaction) to a representation.
Renderer = Callable[[asyncpg.Connection, str, asyncpg.Record, datetime], Awaitable[dict[str, Any]]]

SEARCH_CRITERIA = tuple(repository.SEARCH_COLUMNS)
# The identifiers a stored customer holds, in customer_service.repository.fetch_holders order.
HOLDER_KINDS = ("id", "customerRef", "alternateCustomerRef", "email")
# More to write in a create's transaction: (connection, the new row, the time of the change).
AfterCreate = Callable[[asyncpg.Connection, asyncpg.Record, datetime], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Identifier:
    """One of the four ways to name a customer."""

    kind: str
    value: str

    def lookup_value(self) -> Any:
        """The value to query with; an id that is not a UUID names nobody (404)."""
        if self.kind != "id":
            return self.value
        try:
            return uuid.UUID(self.value)
        except ValueError:
            raise NotFound("No such customer.") from None


def first_identifier(body: object, kinds: tuple[str, ...]) -> Identifier | None:
    """The first of `kinds` the body gives as a non-empty string, or None."""
    if isinstance(body, Mapping):
        for kind in kinds:
            value = body.get(kind)
            if isinstance(value, str) and value:
                return Identifier(kind, value)
    return None


def identifier_in_body(body: object) -> Identifier:
    """PUT /customers: the body's id, else customerRef, else email."""
    identifier = first_identifier(body, ("id", "customerRef", "email"))
    if identifier is not None:
        return identifier
    raise InvalidInput(
        "Name the customer to update by id, customerRef or email.",
        errors={"id": ["One of id, customerRef or email is required."]},
    )


def identifier_in_query(query: Mapping[str, str]) -> Identifier:
    """`?id=` or `?customerRef=` (DELETE /customers, notes listings)."""
    for kind in ("id", "customerRef"):
        if query.get(kind):
            return Identifier(kind, query[kind])
    raise InvalidInput(
        "Name the customer by the query parameter id or customerRef.",
        errors={"id": ["One of id or customerRef is required."]},
    )


def validate_customer(body: object, *, partial: bool = False) -> dict[str, Any]:
    """The shared schema's verdict as a 400 naming every invalid field."""
    if not partial:
        # The compiled accept-only path (the importer's, property-tested to give the schema's
        # output): a fifth of the cost; a body it does not plainly accept goes to the schema.
        plain = load_plain_customer(body)
        if plain is not None:
            return plain
    try:
        return load_customer(with_address_ids(body), partial=partial)
    except CustomerValidationError as exc:
        raise InvalidInput("The customer is not valid.", errors=exc.errors) from None


def _validate_address(body: object) -> dict[str, Any]:
    try:
        return load_address(with_address_id(body))
    except CustomerValidationError as exc:
        raise InvalidInput("The address is not valid.", errors=exc.errors) from None


def search_criteria(query: Mapping[str, str]) -> dict[str, str]:
    """The given, non-empty search criteria; none at all is a 400."""
    criteria = {field: query[field] for field in SEARCH_CRITERIA if query.get(field)}
    if not criteria:
        raise InvalidInput(
            "Give at least one search criterion.",
            errors={"_query": [f"One of {', '.join(SEARCH_CRITERIA)} is required."]},
        )
    return criteria


class CustomerService:
    def __init__(self, pool: asyncpg.Pool, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._pool = pool
        self._clock = clock

    async def validate(self, body: object) -> dict[str, bool]:
        validate_customer(body)
        return {"valid": True}

    async def create(
        self, tenant: str, body: object, *, and_then: AfterCreate | None = None
    ) -> dict[str, Any]:
        """Create the customer; `and_then` writes more in the same transaction (a shopper's
        credentials)."""
        return await self.create_validated(tenant, validate_customer(body), and_then=and_then)

    async def create_validated(
        self,
        tenant: str,
        changes: Mapping[str, Any],
        *,
        and_then: AfterCreate | None = None,
        render: Renderer | None = None,
    ) -> dict[str, Any]:
        """Create from validated changes; `render` (default: the v2 representation) lets the
        v1 API answer in its own shape from the same transaction."""
        now = self._clock()
        state = merge_customer({}, changes, now=now)
        check_limits(state)
        columns, profile = split_state(state)
        customer_id = uuid.uuid4()
        async with tenant_transaction(self._pool, tenant) as conn:
            record = await self._write(
                conn, tenant, repository.INSERT_AND_ANNOUNCE, CUSTOMER_CREATED, customer_id,
                columns, profile, now,
            )  # fmt: skip
            if and_then is not None:
                await and_then(conn, record, now)
            return await self._render_written(conn, tenant, record, now, render)

    async def get(
        self, tenant: str, identifier: Identifier, *, render: Renderer | None = None
    ) -> dict[str, Any]:
        if render is None and identifier.kind == "id":
            # The hot read: the customer and its figures in one statement, one round trip
            # (shared.db.tenant_fetchrow) instead of a tenant transaction's three.
            now = self._clock()
            record = await tenant_fetchrow(
                self._pool,
                repository.SELECT_LIVE_WITH_SPEND,
                tenant,
                identifier.lookup_value(),
                *orders.window_since(now),
            )
            if record is None:
                raise NotFound("No such customer.")
            return render_customer(record, orders.spend_of_row(record, now))
        render = render or self._render
        async with tenant_transaction(self._pool, tenant) as conn:
            record = await self._find(conn, tenant, identifier)
            return await render(conn, tenant, record, self._clock())

    async def search(self, tenant: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
        criteria = search_criteria(query)
        async with tenant_transaction(self._pool, tenant) as conn:
            records = await repository.search(conn, tenant, criteria)
            spend = await orders.spend_of(conn, tenant, [r["id"] for r in records], self._clock())
        return [render_customer(record, spend[record["id"]]) for record in records]

    async def holders_of(
        self, tenant: str, keys: Sequence[tuple[str, str]]
    ) -> list[dict[str, str | None]]:
        """The live customers holding any of these (kind, value) keys, kind one of
        "id", "customerRef", "alternateCustomerRef" or "email" (an id that is not a UUID names
        nobody), with their four identifiers."""
        values: dict[str, set[Any]] = {kind: set() for kind in HOLDER_KINDS}
        for kind, value in keys:
            if kind == "email":
                values[kind].add(value.lower())
            elif kind in values:
                try:
                    values[kind].add(Identifier(kind, value).lookup_value())
                except NotFound:
                    continue
        async with tenant_transaction(self._pool, tenant) as conn:
            rows = await repository.fetch_holders(
                conn, tenant, *(sorted(values[kind]) for kind in HOLDER_KINDS)
            )
        return [
            {
                "id": str(row["id"]),
                "customerRef": row["customer_ref"],
                "alternateCustomerRef": row["alternate_customer_ref"],
                "email": row["email"],
            }
            for row in rows
        ]

    async def update(
        self,
        tenant: str,
        identifier: Identifier,
        body: object,
        *,
        if_match: IfMatch | None = None,
    ) -> dict[str, Any]:
        """Merge the body into the customer (absent kept, null clears); 409 on a taken id."""
        return await self.update_validated(
            tenant, identifier, validate_customer(body, partial=True), if_match=if_match
        )

    async def update_validated(
        self,
        tenant: str,
        identifier: Identifier,
        changes: Mapping[str, Any],
        *,
        render: Renderer | None = None,
        if_match: IfMatch | None = None,
    ) -> dict[str, Any]:
        return await self._change(
            tenant,
            identifier,
            lambda current, now: merge_customer(current, changes, now=now),
            render=render,
            if_match=if_match,
        )

    async def add_address(self, tenant: str, raw_id: str, body: object) -> dict[str, Any]:
        address = _validate_address(body)

        def with_address(current: dict[str, Any], _now: datetime) -> dict[str, Any]:
            addresses = current.get("addresses") or []
            if len(addresses) >= MAX_ADDRESSES:
                raise InvalidInput(
                    f"A customer has at most {MAX_ADDRESSES} addresses.",
                    errors={"addresses": [f"At most {MAX_ADDRESSES} addresses."]},
                )
            return {**current, "addresses": add_address(addresses, address)}

        return await self._change(tenant, Identifier("id", raw_id), with_address)

    async def delete_address(
        self, tenant: str, raw_id: str, address_id: str, *, if_match: IfMatch | None = None
    ) -> dict[str, Any]:
        def without_address(current: dict[str, Any], _now: datetime) -> dict[str, Any]:
            addresses = current.get("addresses") or []
            kept = [a for a in addresses if a.get("id") != address_id]
            if len(kept) == len(addresses):
                raise NotFound("The customer has no such address.")
            state = {**current, "addresses": kept}
            if not kept:
                state.pop("addresses")
            return state

        return await self._change(
            tenant, Identifier("id", raw_id), without_address, if_match=if_match
        )

    async def addresses(self, tenant: str, raw_id: str) -> list[dict[str, Any]]:
        """The customer's addresses as rendered in the customer (GET .../address)."""
        return (await self.get(tenant, Identifier("id", raw_id)))["addresses"]

    async def update_address(
        self, tenant: str, raw_id: str, address_id: str, body: object
    ) -> dict[str, Any]:
        """Merge the body into one of the customer's addresses (default rules of §3)."""
        changes = _validate_address(body)

        def with_changed_address(current: dict[str, Any], _now: datetime) -> dict[str, Any]:
            addresses = update_address(current.get("addresses") or [], address_id, changes)
            if addresses is None:
                raise NotFound("The customer has no such address.")
            return {**current, "addresses": addresses}

        return await self._change(tenant, Identifier("id", raw_id), with_changed_address)

    async def delete(
        self, tenant: str, identifier: Identifier, *, if_match: IfMatch | None = None
    ) -> str:
        """Tombstone and scrub the customer, drop its notes, blank its email and refs in import
        row errors, announce customer.deleted; the id of the customer deleted."""
        now = self._clock()
        async with tenant_transaction(self._pool, tenant) as conn:
            record = await self._find(conn, tenant, identifier, for_update=True)
            if if_match is not None:
                if_match.check(await self._render(conn, tenant, record, now))
            deleted = await repository.soft_delete(conn, tenant, record["id"], now)
            if deleted is None:
                raise NotFound("No such customer.")
            await notes_repository.delete_of_customer(conn, tenant, record["id"])
            await idempotency_records.forget_subject(conn, tenant, record["id"])
            refs = [deleted[c] for c in ("customer_ref", "alternate_customer_ref") if deleted[c]]
            await batches.scrub_row_errors(conn, tenant, email=deleted["email"], refs=refs)
            await orders.delete_of_customer(conn, tenant, record["id"])
            await self._announce(conn, tenant, CUSTOMER_DELETED, deleted, now)
        return str(record["id"])

    async def _change(
        self,
        tenant: str,
        identifier: Identifier,
        change: Callable[[dict[str, Any], datetime], dict[str, Any]],
        *,
        render: Renderer | None = None,
        if_match: IfMatch | None = None,
    ) -> dict[str, Any]:
        now = self._clock()
        async with tenant_transaction(self._pool, tenant) as conn:
            record = await self._find(conn, tenant, identifier, for_update=True)
            if if_match is not None:  # against the locked row: no write can slip in between
                if_match.check(await self._render(conn, tenant, record, now))
            current = state_from_record(record)
            state = change(current, now)
            if same_customer(current, state):
                # Nothing a client can see changed: no write, no new lastModifiedDate, no event.
                return await (render or self._render)(conn, tenant, record, now)
            check_limits(state)
            columns, profile = split_state(state)
            # A new customerRef or email may be one that waiting order facts named: _write
            # attaches them.
            written = await self._write(
                conn, tenant, repository.UPDATE_AND_ANNOUNCE, CUSTOMER_UPDATED, record["id"],
                columns, profile, now,
            )  # fmt: skip
            if written is None:  # locked above, so never; as a lookup that found nobody
                raise NotFound("No such customer.")
            return await self._render_written(conn, tenant, written, now, render)

    @staticmethod
    async def _write(
        conn: asyncpg.Connection,
        tenant: str,
        statement: str,
        event_type: str,
        customer_id: uuid.UUID,
        columns: Mapping[str, Any],
        profile: Mapping[str, Any],
        now: datetime,
    ) -> asyncpg.Record | None:
        """The write, its event, the order facts it attaches and the customer's figures in one
        statement (repository.write_and_announce). The event names the values just written,
        so it is built before the write."""
        event = customer_event(
            event_type,
            tenant=tenant,
            record={
                "id": customer_id,
                "customer_ref": columns["customer_ref"],
                "alternate_customer_ref": columns["alternate_customer_ref"],
            },
            now=now,
        )
        return await repository.write_and_announce(
            conn, statement, tenant, customer_id, columns, profile, now, event,
            orders.window_since(now),
        )  # fmt: skip

    async def _render_written(
        self,
        conn: asyncpg.Connection,
        tenant: str,
        record: asyncpg.Record,
        now: datetime,
        render: Renderer | None,
    ) -> dict[str, Any]:
        """The answer to a write from `_write`'s row: its figures are already there unless the
        write attached order facts (then they are recomputed and read again)."""
        if record["attached_facts"]:
            await orders.recompute_for(conn, tenant, [record["id"]])
        elif render is None:
            return render_customer(record, orders.spend_of_row(record, now))
        return await (render or self._render)(conn, tenant, record, now)

    @staticmethod
    async def _render(
        conn: asyncpg.Connection, tenant: str, record: asyncpg.Record, now: datetime
    ) -> dict[str, Any]:
        spend = await orders.spend_of(conn, tenant, [record["id"]], now)
        return render_customer(record, spend[record["id"]])

    @staticmethod
    async def _find(
        conn: asyncpg.Connection, tenant: str, identifier: Identifier, *, for_update: bool = False
    ) -> asyncpg.Record:
        record = await repository.fetch_by(
            conn, tenant, identifier.kind, identifier.lookup_value(), for_update=for_update
        )
        if record is None:
            raise NotFound("No such customer.")
        return record

    @staticmethod
    async def _announce(
        conn: asyncpg.Connection, tenant: str, event_type: str, record: Mapping, now: datetime
    ) -> None:
        event = customer_event(event_type, tenant=tenant, record=record, now=now)
        await repository.add_outbox_event(conn, tenant, event)
