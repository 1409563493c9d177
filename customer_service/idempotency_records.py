"""SQL of the Idempotency-Key records (customer.idempotency_keys, 0014): one row per tenant and
key, claimed before its request runs and given its answer in that request's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

import asyncpg

_CLAIM = """
INSERT INTO customer.idempotency_keys AS k
    (tenant_id, key, fingerprint, claim, claimed_until, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5::timestamptz + $6::interval, $5, $5::timestamptz + $7::interval)
ON CONFLICT (tenant_id, key) DO UPDATE SET
    fingerprint = EXCLUDED.fingerprint, claim = EXCLUDED.claim,
    claimed_until = EXCLUDED.claimed_until, status = NULL, body = NULL, headers = NULL,
    subject_id = NULL, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
WHERE k.expires_at <= $5
   OR (k.status IS NULL AND k.claimed_until <= $5 AND k.fingerprint = EXCLUDED.fingerprint)
RETURNING claim
"""
_EXISTING = """
SELECT fingerprint, status, body, headers FROM customer.idempotency_keys
WHERE tenant_id = $1 AND key = $2
"""
_RECORD = """
UPDATE customer.idempotency_keys
SET status = $4, body = $5, headers = $6, subject_id = $7, claim = NULL, claimed_until = NULL
WHERE tenant_id = $1 AND key = $2 AND claim = $3
"""
_RELEASE = "DELETE FROM customer.idempotency_keys WHERE tenant_id = $1 AND key = $2 AND claim = $3"
_FORGET_SUBJECT = "DELETE FROM customer.idempotency_keys WHERE tenant_id = $1 AND subject_id = $2"
_DELETE_EXPIRED = """
DELETE FROM customer.idempotency_keys WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM customer.idempotency_keys WHERE expires_at <= $1 LIMIT $2
))
"""


async def claim(
    conn: asyncpg.Connection,
    tenant: str,
    key: str,
    fingerprint: bytes,
    claim_id: uuid.UUID,
    now: datetime,
    *,
    lease: timedelta,
    keep: timedelta,
) -> asyncpg.Record | None:
    """Claim the key for `claim_id` (None), or the row already holding it (fingerprint, status,
    body, headers): new, expired, or claimed by a request that died with the same fingerprint
    is ours."""
    while True:  # a row released between the two statements: claim again
        if await conn.fetchval(_CLAIM, tenant, key, fingerprint, claim_id, now, lease, keep):
            return None
        existing = await conn.fetchrow(_EXISTING, tenant, key)
        if existing is not None:
            return existing


async def record(
    conn: asyncpg.Connection,
    tenant: str,
    key: str,
    claim_id: uuid.UUID,
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    subject_id: uuid.UUID | None,
) -> bool:
    """Store the answer on the key we still hold; False if our claim is gone."""
    result = await conn.execute(
        _RECORD, tenant, key, claim_id, status, body, dict(headers), subject_id
    )
    return result != "UPDATE 0"


async def release(conn: asyncpg.Connection, tenant: str, key: str, claim_id: uuid.UUID) -> None:
    await conn.execute(_RELEASE, tenant, key, claim_id)


async def forget_subject(conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID) -> None:
    """Drop stored answers about a customer being deleted (they hold its personal data)."""
    await conn.execute(_FORGET_SUBJECT, tenant, customer_id)


async def delete_expired(conn: asyncpg.Connection, now: datetime, *, limit: int) -> int:
    """Delete keys past their time, at most `limit` (the retention sweep, as the owner)."""
    status = await conn.execute(_DELETE_EXPIRED, now, limit)
    return int(status.split()[-1])
