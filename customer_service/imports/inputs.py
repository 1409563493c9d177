"""What the import API accepts: batch ids, paging, batch names, resource records. Each
parser raises the domain error a client should see (400, or 404 for what names no batch)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from shared.errors import InvalidInput, NotFound

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 500
# Far past any listing, and small enough that page * pageSize fits PostgreSQL's OFFSET (bigint):
# a larger page would overflow it (a 500, not the client's 400).
MAX_PAGE = 2**31 - 1
MAX_BATCH_REF_LENGTH = 255
ENTITY_TYPE = "customer"


def batch_id_of(raw: object) -> uuid.UUID:
    """A path or query batch id; anything that is not a UUID names no batch (404)."""
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound("No such batch.") from None


def paging(query: Mapping[str, str]) -> tuple[int, int]:
    """(page, pageSize) from the query: page 0-2147483647, pageSize 1-500 (default 20)."""
    errors: dict[str, list[str]] = {}
    page = _int_param(query, "page", 0, errors)
    size = _int_param(query, "pageSize", DEFAULT_PAGE_SIZE, errors)
    if "page" not in errors and page < 0:
        errors["page"] = ["Must be 0 or more."]
    elif "page" not in errors and page > MAX_PAGE:
        errors["page"] = [f"Must be at most {MAX_PAGE}."]
    if "pageSize" not in errors and not 1 <= size <= MAX_PAGE_SIZE:
        errors["pageSize"] = [f"Must be between 1 and {MAX_PAGE_SIZE}."]
    if errors:
        raise InvalidInput("The paging parameters are not valid.", errors=errors)
    return page, size


def _int_param(query: Mapping[str, str], name: str, default: int, errors: dict) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        errors[name] = ["Not a valid integer."]
        return default


def batch_ref_of(body: object) -> str | None:
    if body is None:
        return None
    if not isinstance(body, Mapping):
        raise InvalidInput("Expected a JSON object.", errors={"_body": ["Expected an object."]})
    ref = body.get("batchRef")
    if ref is None:
        return None
    if not isinstance(ref, str) or not 1 <= len(ref) <= MAX_BATCH_REF_LENGTH or not storable(ref):
        raise InvalidInput(
            "The batchRef is not valid.",
            errors={"batchRef": [f"Must be a string of 1 to {MAX_BATCH_REF_LENGTH} characters."]},
        )
    return ref


def storable(text: str) -> bool:
    """Whether PostgreSQL text can hold `text` (no NUL, no lone surrogate)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def batch_named_by(values: Mapping[str, Any]) -> tuple[str, Any]:
    """("id", uuid) or ("batchRef", str) from `batchId` / `batchRef` in a query or a body."""
    batch_id = values.get("batchId")
    if batch_id:
        return "id", batch_id_of(batch_id)
    batch_ref = values.get("batchRef")
    if isinstance(batch_ref, str) and batch_ref:
        if not storable(batch_ref):  # then no batch has it
            raise NotFound("No such batch.")
        return "batchRef", batch_ref
    raise InvalidInput(
        "Name the batch by batchId or batchRef.",
        errors={"batchId": ["One of batchId or batchRef is required."]},
    )


def resource_records(body: object) -> list[tuple[tuple[str, Any], Mapping[str, Any]]]:
    """[((kind, value) of the batch, customer object)] of a /resource body (one or an array)."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise InvalidInput("The array is empty.", errors={"_body": ["Give at least one record."]})
    parsed = []
    for index, item in enumerate(items):
        prefix = f"{index}." if isinstance(body, list) else ""
        if not isinstance(item, Mapping):
            raise InvalidInput(
                "Expected a JSON object.", errors={prefix + "_schema": ["Expected an object."]}
            )
        if item.get("entityType") != ENTITY_TYPE:
            raise InvalidInput(
                "Only customer records can be imported.",
                errors={prefix + "entityType": [f"Must be {ENTITY_TYPE!r}."]},
            )
        if not isinstance(item.get("customer"), Mapping):
            raise InvalidInput(
                "The record has no customer.",
                errors={prefix + "customer": ["Expected a customer object."]},
            )
        if not item.get("batchId") and not item.get("batchRef"):
            raise InvalidInput(
                "Name the record's batch by batchId or batchRef.",
                errors={prefix + "batchId": ["One of batchId or batchRef is required."]},
            )
        parsed.append((batch_named_by(item), item["customer"]))
    return parsed


def ndjson(records: list[Any]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)
