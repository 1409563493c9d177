"""The export's own SQL: a customer's notes and import row errors (main database, under
row-level security), and its wishlists with their items (the wishlist store, which has no
row-level security: every statement names the tenant)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

NOTES_OLDEST_FIRST = """
SELECT id, customer_id, note, created_at, last_modified_at FROM customer.notes
WHERE tenant_id = $1 AND customer_id = $2
ORDER BY created_at, id
"""

# Row errors of import records that carried this customer's email (any case) or one of its refs
# (the rows an erasure scrubs): a SECURITY DEFINER function (0016_export_row_errors.sql), so the
# lower(email) index serves it under row-level security.
IMPORT_ERRORS = """
SELECT batch_id, record_no, errors FROM impex.row_errors_naming($1, $2, $3::text[])
"""

WISHLISTS = """
SELECT id, name, description, wishlist_ref, is_private, created_at, updated_at
FROM wishlist.wishlists
WHERE tenant_id = $1 AND customer_id = $2
ORDER BY created_at, id
"""

WISHLIST_ITEMS = """
SELECT id, wishlist_id, product_ref, variant_ref, purchased, created_at
FROM wishlist.wishlist_items
WHERE tenant_id = $1 AND wishlist_id = ANY($2::uuid[])
ORDER BY created_at, id
"""


async def notes(conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID) -> list[Any]:
    return await conn.fetch(NOTES_OLDEST_FIRST, tenant, customer_id)


async def import_errors(
    conn: asyncpg.Connection, tenant: str, email: str | None, refs: list[str]
) -> list[Any]:
    """Ordered by batch and row."""
    return await conn.fetch(IMPORT_ERRORS, tenant, email, refs)


async def wishlists(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID
) -> tuple[list[Any], list[Any]]:
    """(the customer's wishlists, all their items)."""
    lists = await conn.fetch(WISHLISTS, tenant, customer_id)
    if not lists:
        return [], []
    items = await conn.fetch(WISHLIST_ITEMS, tenant, [row["id"] for row in lists])
    return lists, items
