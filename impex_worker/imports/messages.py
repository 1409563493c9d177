"""The messages of the imports queue (exchange `impex`, routing key `customers.import`):

- `{"tenant", "batchId"}`: the import API queued a READY batch;
- `{"tenant", "batchRef", "format", "path"}`: a trusted producer dropped a file under
  IMPEX_DROP_DIR;
- `{"tenant", "batchRef", "records": [...]}`: a trusted producer dropped the records themselves.

Without a valid tenant and a batch to report to, a message is malformed (`InvalidMessage`: it is
dead-lettered). A drop that names its batch but is otherwise wrong is parsed as `DropRefused`:
the batch ends ERROR with the reason, so the producer learns why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from impex_worker.imports.formats import FORMATS
from impex_worker.messages import InvalidMessage
from shared.identifiers import is_tenant_id

MAX_BATCH_REF_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ImportBatch:
    tenant: str
    batch_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class DropFile:
    tenant: str
    batch_ref: str
    file_format: str
    path: str


@dataclass(frozen=True, slots=True)
class DropRecords:
    tenant: str
    batch_ref: str
    records: list[Any]


@dataclass(frozen=True, slots=True)
class DropRefused:
    tenant: str
    batch_ref: str
    reason: str


ImportMessage = ImportBatch | DropFile | DropRecords | DropRefused


def parse_import_message(body: bytes) -> ImportMessage:
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidMessage("body is not JSON") from None
    if not isinstance(message, dict):
        raise InvalidMessage("body is not a JSON object")
    tenant = message.get("tenant")
    if not is_tenant_id(tenant):
        raise InvalidMessage("tenant is missing or not a tenant id")
    if "batchId" in message:
        try:
            return ImportBatch(tenant, uuid.UUID(str(message["batchId"])))
        except ValueError:
            raise InvalidMessage("batchId is not a UUID") from None
    batch_ref = message.get("batchRef")
    if not isinstance(batch_ref, str) or not 0 < len(batch_ref) <= MAX_BATCH_REF_LENGTH:
        raise InvalidMessage("neither batchId nor a batchRef of 1-255 characters")
    if "\x00" in batch_ref:
        raise InvalidMessage("batchRef holds a NUL character")
    return _drop(tenant, batch_ref, message)


def _drop(tenant: str, batch_ref: str, message: dict[str, Any]) -> ImportMessage:
    if "records" in message:
        if not isinstance(message["records"], list):
            return DropRefused(tenant, batch_ref, "records must be an array of customers.")
        return DropRecords(tenant, batch_ref, message["records"])
    path, file_format = message.get("path"), message.get("format")
    if not isinstance(path, str) or not path:
        return DropRefused(tenant, batch_ref, "The message has neither records nor a path.")
    if file_format not in FORMATS:
        return DropRefused(tenant, batch_ref, f"format must be one of {', '.join(FORMATS)}.")
    return DropFile(tenant, batch_ref, file_format, path)


DELIVERY_LIMIT_REACHED = "delivery_limit"


def death_cause(headers: dict[str, Any] | None) -> str | None:
    """RabbitMQ's reason for dead-lettering a message (`delivery_limit`, `rejected`, ...), from
    its `x-death` header."""
    deaths = (headers or {}).get("x-death") or []
    death = deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else {}
    reason = death.get("reason")
    if isinstance(reason, bytes):
        reason = reason.decode(errors="replace")
    return reason if isinstance(reason, str) else None


def dead_letter_reason(headers: dict[str, Any] | None) -> str:
    """Why a message was dead-lettered, in words for the batch's errorMessage."""
    return {DELIVERY_LIMIT_REACHED: "it failed too many times", "rejected": "it was refused"}.get(
        death_cause(headers) or "", "it was dead-lettered"
    )
