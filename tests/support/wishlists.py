"""Wishlists in the wishlist store, for tests of their de-identification (no API writes them)."""

from __future__ import annotations

import uuid

import asyncpg

from tests.support.waiting import eventually

IDENTITY_COLUMNS = (
    "customer_id",
    "customer_ref",
    "customer_email",
    "customer_first_name",
    "customer_last_name",
)


async def seed_wishlist(
    conn: asyncpg.Connection, tenant: str, customer: dict, name: str
) -> uuid.UUID:
    """A wishlist of `customer` (an API customer body) with one item; returns its id."""
    wishlist_id = uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO wishlist.wishlists (id, tenant_id, customer_id, customer_ref, customer_email,
            customer_first_name, customer_last_name, name)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        wishlist_id, tenant, uuid.UUID(customer["id"]), customer.get("customerRef"),
        customer.get("email"), customer.get("firstName"), customer.get("lastName"), name,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO wishlist.wishlist_items (id, tenant_id, wishlist_id, product_ref) "
        "VALUES ($1, $2, $3, 'SKU-1')",
        uuid.uuid4(), tenant, wishlist_id,
    )  # fmt: skip
    return wishlist_id


async def wait_deidentified(
    conn: asyncpg.Connection, wishlist_ids: list[uuid.UUID], *, timeout: float = 15.0
) -> list[asyncpg.Record]:
    """The rows of `wishlist_ids` once every one of them is marked de-identified."""

    async def rows_when_done() -> list[asyncpg.Record] | None:
        rows = await conn.fetch(
            "SELECT * FROM wishlist.wishlists WHERE id = ANY($1::uuid[])", wishlist_ids
        )
        done = len(rows) == len(wishlist_ids) and all(r["deidentified_at"] for r in rows)
        return rows if done else None

    return await eventually(rows_when_done, timeout=timeout, interval=0.1)
