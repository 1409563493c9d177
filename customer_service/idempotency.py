"""Idempotency-Key on every POST of the API (API.md §6, Stripe's model).

A POST carrying `Idempotency-Key` (1 to 255 printable ASCII characters) is run at most once per
tenant and key for 24 hours:

1. Claim: in a transaction of its own, the key's row is inserted with a fingerprint of the
   request (method, path, query, content type, body) and a claim valid for `LEASE`. A row already
   there answers instead: another fingerprint → 422; a stored answer → that answer again
   (status, body, `Location`, `ETag`; `Idempotent-Replayed: true`); still claimed → 409.
2. Run: the handler runs inside `shared.db.joined_transaction`, so every transaction the use
   case opens is a savepoint of one transaction, whatever the use case (a create, an upload
   creating a batch and queueing it through the outbox, a shopper's registration).
3. Record: a 2xx answer is written to the key's row in that same transaction, which then
   commits: the write and its record cannot be split by a crash. Any other answer releases the
   key (the transaction still commits what the handler committed, e.g. a counted failed login;
   a retry runs again). A request that died leaves only its claim, which a retry takes over
   after `LEASE`; if the old request still commits after that, its record finds the claim gone
   and it rolls back (409), so nothing is done twice.

Streamed uploads (`POST /api/import/batch/{id}/file`) are not read before they run: their
fingerprint covers the method, path, content type and declared length, not the bytes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from customer_service import idempotency_records as records
from customer_service.imports.handlers import upload_file
from shared.app_keys import DB_POOL
from shared.authz import claims_of
from shared.db import joined_transaction, tenant_transaction
from shared.errors import Conflict, DomainError, InvalidInput
from shared.timefmt import utcnow

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETENTION = timedelta(hours=24)
# How long a claim stands without its answer: after that, a retry takes the key over (the first
# attempt died). A request still running then cannot record its answer and rolls back.
LEASE = timedelta(seconds=60)
MAX_KEY_LENGTH = 255
# Headers of the first answer that a replay repeats.
_KEPT_HEADERS = ("Content-Type", "Location", "ETag")
# Handlers whose body is streamed, never read whole before they run.
_STREAMED_HANDLERS = frozenset({upload_file})


class KeyReusedWithOtherRequest(DomainError):
    status, title, type_slug = 422, "Unprocessable Content", "idempotency-key-reused"


def parse_key(value: str) -> str:
    """The key, or a 400 naming the header."""
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in value):
        raise InvalidInput(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            errors={HEADER: [f"1 to {MAX_KEY_LENGTH} printable ASCII characters."]},
        )
    return value


def fingerprint(method: str, path: str, query: str, content_type: str, body: bytes) -> bytes:
    """What must be the same for a retry to be the same request (trailing slash ignored)."""
    digest = hashlib.sha256()
    for part in (method, path.rstrip("/") or "/", query, content_type):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(body)
    return digest.digest()


async def _request_fingerprint(request: web.Request) -> bytes:
    if request.match_info.handler in _STREAMED_HANDLERS:
        body = f"length={request.headers.get('Content-Length', '')}".encode()
    else:
        body = await request.read()
    return fingerprint(
        request.method, request.path, request.query_string, request.content_type, body
    )


def _subject(body: bytes) -> uuid.UUID | None:
    """The customer an answer is about: its `customerId`, else its `id`."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    for field in ("customerId", "id"):
        try:
            return uuid.UUID(str(data[field]))
        except (KeyError, ValueError):
            continue
    return None


def _replay(row: asyncpg.Record) -> web.Response:
    headers = {**row["headers"], REPLAYED_HEADER: "true"}
    return web.Response(status=row["status"], body=row["body"], headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def idempotency_middleware(*, clock: Callable[[], datetime] = utcnow) -> Any:
    """Runs after the token check (the tenant is the token's)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        raw_key = request.headers.get(HEADER)
        if request.method != "POST" or raw_key is None or not request.path.startswith("/api/"):
            return await handler(request)
        key = parse_key(raw_key)
        tenant = claims_of(request).tenant
        pool = request.app[DB_POOL]
        request_fingerprint = await _request_fingerprint(request)
        claim = uuid.uuid4()
        async with tenant_transaction(pool, tenant) as conn:
            existing = await records.claim(
                conn, tenant, key, request_fingerprint, claim, clock(), lease=LEASE, keep=RETENTION
            )
        if existing is not None:
            if existing["fingerprint"] != request_fingerprint:
                raise KeyReusedWithOtherRequest(
                    f"This {HEADER} was used with another request.",
                    errors={HEADER: ["Already used with a different request."]},
                )
            if existing["status"] is not None:
                return _replay(existing)
            raise Conflict(
                f"A request with this {HEADER} is still running; retry later.",
                errors={HEADER: ["A request with this key is in progress."]},
            )
        return await _run_once(request, handler, pool, tenant, key, claim)

    return middleware


async def _run_once(
    request: web.Request,
    handler: Handler,
    pool: asyncpg.Pool,
    tenant: str,
    key: str,
    claim: uuid.UUID,
) -> web.StreamResponse:
    failure: BaseException | None = None
    async with joined_transaction(pool, tenant):
        try:
            response = await handler(request)
        except Exception as exc:  # re-raised below, once the key is released
            failure = exc
        async with tenant_transaction(pool, tenant) as conn:
            if failure is None and _storable(response):
                assert isinstance(response, web.Response)
                body = bytes(response.body)  # type: ignore[arg-type]
                headers = {h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers}
                recorded = await records.record(
                    conn, tenant, key, claim, response.status, body, headers, _subject(body)
                )
                if not recorded:  # the claim lapsed and a retry took it over
                    raise Conflict(
                        f"A retry with this {HEADER} took over; this attempt was undone.",
                        errors={HEADER: ["A request with this key is in progress."]},
                    )
            else:
                await records.release(conn, tenant, key, claim)
    if failure is not None:
        raise failure
    return response


def _storable(response: web.StreamResponse) -> bool:
    return (
        isinstance(response, web.Response)
        and 200 <= response.status < 300
        and isinstance(response.body, bytes | bytearray)
    )
