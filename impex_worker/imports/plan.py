"""What one chunk does to the customers (API.md §4 row semantics), decided in memory.

Records apply in file order, exactly as a client sending them one by one would see it: a record
matches a customer by customerRef, else by email (case-insensitively); a match is merged (the
PUT rules of `shared.customers.rules`), otherwise a customer is created. Several records naming
one customer therefore end as the last one says (last one wins); the chunk writes each customer
once, in its final state, and only if it changed (so re-running a file changes nothing). An
identifier that would collide with another customer's is a row error, as the API's 409 is.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from impex_worker.imports.checks import Checked, Valid, check_records, row_error
from impex_worker.imports.formats import Record
from shared.customers.limits import limit_errors
from shared.customers.representation import split_state, state_from_record
from shared.customers.rules import merge_customer
from shared.imports.chunks import Row, RowError

# The unique identifiers, each with how uniqueness compares it (email case-insensitively).
IDENTIFIERS = (("customerRef", str), ("email", str.lower), ("alternateCustomerRef", str))
IN_USE = "already in use"


@dataclass(slots=True)
class Fresh:
    """A record's customer as it is created when nothing stored matches it: its state, the
    caps it breaks, and its row's column values and profile."""

    id: uuid.UUID
    state: dict[str, Any]
    too_large: dict[str, list[str]]
    columns: dict[str, Any]
    profile: dict[str, Any]


@dataclass(slots=True)
class _Customer:
    id: uuid.UUID
    before: dict[str, Any] | None  # the stored state; None for a customer this chunk creates
    state: dict[str, Any]
    fresh: Fresh | None = None  # when created from a record's precomputed Fresh


@dataclass(slots=True)
class ChunkPlan:
    """A chunk's writes; `created` / `updated` name the customers (ids and refs only) for the
    chunk's `customer.imported` event: a record that changed nothing is in neither."""

    inserts: list[Row] = field(default_factory=list)
    updates: list[Row] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    imported: int = 0


def prepare_chunk(records: Sequence[Record], *, now: datetime) -> Checked:
    """Validate a chunk's records and work out, for each valid one, the customer it creates if
    nothing stored matches it (`Valid.fresh`): no database needed, so this runs beside the
    previous chunk's transaction, which then merges only the records that match a customer.
    `now` is the chunk's time: plan_chunk must be given the same."""
    checked = check_records(records)
    ids = _random_ids(len(checked.valid))
    for record in checked.valid:
        record.fresh = fresh_customer(next(ids), record.changes, now=now)
    checked.keys = lookup_keys(checked.valid)
    return checked


def fresh_customer(customer_id: uuid.UUID, changes: Mapping[str, Any], *, now: datetime) -> Fresh:
    state = merge_customer({}, changes, now=now)
    columns, profile = split_state(state)
    return Fresh(customer_id, state, limit_errors(state), columns, profile)


def lookup_keys(valid: Sequence[Valid]) -> tuple[list[str], list[str], list[str]]:
    """(customerRefs, lower-cased emails, alternateCustomerRefs) the chunk's records carry:
    every stored customer the chunk may match or collide with has one of them."""
    refs: set[str] = set()
    emails: set[str] = set()
    alternates: set[str] = set()
    for record in valid:
        changes = record.changes
        if changes.get("customerRef") is not None:
            refs.add(changes["customerRef"])
        emails.add(changes["email"].lower())
        if changes.get("alternateCustomerRef") is not None:
            alternates.add(changes["alternateCustomerRef"])
    return sorted(refs), sorted(emails), sorted(alternates)


def plan_chunk(
    valid: Sequence[Valid], stored: Sequence[Mapping[str, Any]], *, now: datetime
) -> ChunkPlan:
    """The writes, announcements and row errors of `valid` records (in file order), given the stored
    customers `lookup_keys` found."""
    customers: dict[uuid.UUID, _Customer] = {}
    index: dict[str, dict[str, uuid.UUID]] = {name: {} for name, _ in IDENTIFIERS}
    for record in stored:
        state = state_from_record(record)
        customers[record["id"]] = _Customer(record["id"], state, state)
        _reindex(index, record["id"], {}, state)
    plan = ChunkPlan()
    new_ids = _random_ids(sum(1 for record in valid if record.fresh is None))
    for record in valid:
        changes = record.changes
        target = None
        if changes.get("customerRef") is not None:
            target = index["customerRef"].get(changes["customerRef"])
        if target is None:
            target = index["email"].get(changes["email"].lower())
        fresh = record.fresh if target is None else None
        if fresh is not None:
            state, too_large = fresh.state, fresh.too_large
        else:
            current = customers[target].state if target is not None else {}
            state = merge_customer(current, changes, now=now)
            too_large = limit_errors(state)
        if too_large:
            plan.errors.append(row_error(record.row, changes, too_large))
            continue
        taken = _taken(index, target, state)
        if taken:
            plan.errors.append(row_error(record.row, changes, {name: [IN_USE] for name in taken}))
            continue
        if target is None:
            target = fresh.id if fresh is not None else next(new_ids)
            customers[target] = _Customer(target, None, {}, fresh)
        _reindex(index, target, customers[target].state, state)
        customers[target].state = state
        plan.imported += 1
    for customer in customers.values():
        if customer.before is None:
            plan.inserts.append(_row(customer))
            plan.created.append(_ids(customer))
        elif customer.state != customer.before:
            plan.updates.append(_row(customer))
            plan.updated.append(_ids(customer))
    return plan


def _random_ids(count: int) -> Iterator[uuid.UUID]:
    """Up to `count` version-4 UUIDs, as uuid.uuid4() makes them, from one read of the system's
    random source instead of one read each (a system call, a good part of a row's cost)."""
    data = os.urandom(16 * count)
    for start in range(0, len(data), 16):
        yield uuid.UUID(bytes=data[start : start + 16], version=4)


def _taken(
    index: Mapping[str, Mapping[str, uuid.UUID]], target: uuid.UUID | None, state: Mapping
) -> list[str]:
    """The identifiers of `state` another customer already has."""
    taken = []
    for name, key in IDENTIFIERS:
        value = state.get(name)
        if value is not None and index[name].get(key(value), target) != target:
            taken.append(name)
    return taken


def _reindex(
    index: dict[str, dict[str, uuid.UUID]],
    customer_id: uuid.UUID,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> None:
    for name, key in IDENTIFIERS:
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if old is not None and index[name].get(key(old)) == customer_id:
            del index[name][key(old)]
        if new is not None:
            index[name][key(new)] = customer_id


def _row(customer: _Customer) -> Row:
    fresh = customer.fresh
    if fresh is not None and customer.state is fresh.state:  # as created, not merged since
        return Row(customer.id, fresh.columns, fresh.profile)
    columns, profile = split_state(customer.state)
    return Row(customer.id, columns, profile)


def _ids(customer: _Customer) -> dict[str, Any]:
    return {
        "id": str(customer.id),
        "customerRef": customer.state.get("customerRef"),
        "alternateCustomerRef": customer.state.get("alternateCustomerRef"),
    }
