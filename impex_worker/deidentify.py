"""The de-identification rule (API.md §5): a deleted customer's wishlists lose every identity
column and keep only a keyed pseudonym, so reports can count distinct customers but nobody can
recover who. Items stay. Running it twice changes nothing: the second time no row matches."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import asyncpg

from shared import db

DEIDENTIFY_CUSTOMER_WISHLISTS = """
WITH deidentified AS (
    UPDATE wishlist.wishlists
    SET customer_id = NULL,
        customer_ref = NULL,
        customer_email = NULL,
        customer_first_name = NULL,
        customer_last_name = NULL,
        customer_pseudonym = $3,
        deidentified_at = now(),
        updated_at = now()
    WHERE tenant_id = $1 AND customer_id = $2
    RETURNING id
)
SELECT count(*) FROM deidentified
"""


def customer_pseudonym(key: str, *, tenant: str, customer_id: uuid.UUID) -> str:
    """HMAC-SHA256 of `<tenant>:<customer id>` under `key`, hex: stable, not reversible
    without the key, and distinct per tenant."""
    message = f"{tenant}:{customer_id}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


async def deidentify_customer(
    pool: asyncpg.Pool, *, tenant: str, customer_id: uuid.UUID, pseudonym_key: str
) -> int:
    """De-identify every wishlist of `customer_id` in `tenant` in one transaction;
    returns how many wishlists changed (0 when already done)."""
    pseudonym = customer_pseudonym(pseudonym_key, tenant=tenant, customer_id=customer_id)
    async with db.connection(pool) as conn, conn.transaction():
        return await conn.fetchval(DEIDENTIFY_CUSTOMER_WISHLISTS, tenant, customer_id, pseudonym)
