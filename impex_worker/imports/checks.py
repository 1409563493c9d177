"""Validating a chunk of records with the customer schema (`shared.schemas.load_customer`, as
`POST /customers` does). Pure and picklable, so it can run in a thread or another process.

Each record goes first through the schema's precompiled twin (`shared.schemas.compiled`), which
gives the schema's own result for plainly valid records many times faster; whatever it does not
accept goes to the schema itself, which decides and words the errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from impex_worker.imports.formats import Record
from shared.customers.v1_fields import IMPORT_KEY, hidden_fields
from shared.imports.chunks import RowError
from shared.schemas import MAX_STRING_LENGTH, CustomerValidationError, load_customer
from shared.schemas.compiled import load_plain_customer

if TYPE_CHECKING:
    from impex_worker.imports.plan import Fresh


@dataclass(slots=True)
class Valid:
    """A record the schema accepted: its number in the file and its validated fields."""

    row: int
    changes: dict[str, Any]
    # The customer this record would create if it matches none (plan.prepare_chunk works it
    # out ahead, beside the database); None: worked out when the chunk is planned.
    fresh: Fresh | None = None


@dataclass(slots=True)
class Checked:
    valid: list[Valid] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # plan.lookup_keys(valid), when prepare_chunk worked them out ahead.
    keys: tuple[list[str], list[str], list[str]] | None = None


def check_records(records: list[Record]) -> Checked:
    """Split records into valid ones and row errors."""
    checked = Checked()
    for record in records:
        record.built()
        if record.problem is None:
            try:
                # Only a v1 upload's records carry it (customer_service.v1).
                data = record.data
                extra = (
                    hidden_fields(data) if isinstance(data, dict) and IMPORT_KEY in data else None
                )
            except ValueError as exc:
                checked.errors.append(row_error(record.row, record.data, {IMPORT_KEY: [str(exc)]}))
                continue
            changes = load_plain_customer(record.data)
            if changes is not None:
                checked.valid.append(Valid(record.row, {**changes, **extra} if extra else changes))
                continue
            try:
                changes = load_customer(record.data)
                checked.valid.append(Valid(record.row, {**changes, **extra} if extra else changes))
                continue
            except CustomerValidationError as exc:
                problem = exc.errors
        else:
            problem = record.problem
        checked.errors.append(row_error(record.row, record.data, problem))
    return checked


def row_error(row: int, data: object, errors: Mapping[str, list[str]]) -> RowError:
    """A row error naming the record by the customerRef and email it carried (if any)."""
    values = data if isinstance(data, Mapping) else {}
    messages = {
        storable(path) or "_record": [storable(message) or "" for message in found]
        for path, found in errors.items()
    }
    return RowError(
        row, storable(values.get("customerRef")), storable(values.get("email")), messages
    )


def storable(value: object) -> str | None:
    """`value` as text PostgreSQL can store (no NUL, no lone surrogates, bounded), else None."""
    if not isinstance(value, str):
        return None
    if "\x00" in value or not value.isascii():
        value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return value[:MAX_STRING_LENGTH]
