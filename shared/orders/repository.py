"""All order SQL. Every statement takes the tenant as a parameter and runs in a
`shared.db.tenant_transaction`, so row-level security applies as well."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.orders.facts import OrderFact

MARK_SEEN = """
INSERT INTO customer.order_events_seen (tenant_id, event_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING
RETURNING event_id
"""

RESOLVE_CUSTOMER = {
    "customerId": "SELECT id FROM customer.customers"
    " WHERE tenant_id = $1 AND id = $2::uuid AND NOT deleted",
    "customerRef": "SELECT id FROM customer.customers"
    " WHERE tenant_id = $1 AND customer_ref = $2 AND NOT deleted",
    "email": "SELECT id FROM customer.customers"
    " WHERE tenant_id = $1 AND email_lower = $2 AND NOT deleted",
}

# The latest occurredAt wins: an older fact for a known orderRef changes nothing. `previous` is
# the customer the fact belonged to before, whose figures change too when it moves.
UPSERT_FACT = """
WITH before AS (
    SELECT customer_id FROM customer.order_facts
    WHERE tenant_id = $1 AND order_ref = $2
    FOR UPDATE
)
INSERT INTO customer.order_facts AS f (
    tenant_id, order_ref, order_name, customer_id, customer_kind, customer_key, order_date,
    total, refunded_amount, currency, status, occurred_at, event_id
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (tenant_id, order_ref) DO UPDATE SET
    order_name = EXCLUDED.order_name, customer_id = EXCLUDED.customer_id,
    customer_kind = EXCLUDED.customer_kind, customer_key = EXCLUDED.customer_key,
    order_date = EXCLUDED.order_date, total = EXCLUDED.total,
    refunded_amount = EXCLUDED.refunded_amount, currency = EXCLUDED.currency,
    status = EXCLUDED.status, occurred_at = EXCLUDED.occurred_at,
    event_id = EXCLUDED.event_id, received_at = now()
WHERE f.occurred_at < EXCLUDED.occurred_at
RETURNING f.customer_id, (SELECT customer_id FROM before) AS previous
"""

# Facts waiting for a customer who now exists with one of the given refs or (lower-cased)
# emails: one statement for a whole import chunk.
ATTACH_PENDING = """
UPDATE customer.order_facts AS f SET customer_id = c.id
FROM customer.customers AS c
WHERE f.tenant_id = $1 AND f.customer_id IS NULL AND c.tenant_id = $1 AND NOT c.deleted
  AND (
    (f.customer_kind = 'customerRef' AND f.customer_key = ANY($2::text[])
        AND c.customer_ref = f.customer_key)
    OR (f.customer_kind = 'email' AND f.customer_key = ANY($3::text[])
        AND c.email_lower = f.customer_key)
  )
RETURNING f.customer_id
"""

# Serialises the recomputation per customer: the statement after the lock sees every fact
# committed before it, so concurrent writers cannot leave stale figures behind.
LOCK_CUSTOMERS = """
SELECT pg_advisory_xact_lock(hashtextextended('order_totals:' || $1 || ':' || id::text, 0))
FROM unnest($2::uuid[]) AS id ORDER BY id
"""

RECOMPUTE_TOTALS = """
WITH figures AS (
    SELECT customer_id, count(*) AS total_orders, sum(total) AS lifetime_value,
        sum(total - refunded_amount) AS total_spend, min(order_date) AS first_order_date,
        (array_agg(order_date ORDER BY order_date DESC, order_ref DESC))[1] AS last_order_date,
        (array_agg(order_ref ORDER BY order_date DESC, order_ref DESC))[1] AS last_order_ref,
        (array_agg(order_name ORDER BY order_date DESC, order_ref DESC))[1] AS last_order_name,
        (array_agg(currency ORDER BY order_date DESC, order_ref DESC))[1] AS last_currency
    FROM customer.order_facts
    WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) AND status = 'placed'
    GROUP BY customer_id
), months AS (
    SELECT customer_id, jsonb_object_agg(month, spend) AS monthly_spend
    FROM (
        SELECT customer_id, to_char(order_date AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
            sum(total - refunded_amount) AS spend
        FROM customer.order_facts
        WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) AND status = 'placed'
        GROUP BY 1, 2
    ) AS per_month
    GROUP BY customer_id
), gone AS (
    DELETE FROM customer.order_totals AS t
    WHERE t.tenant_id = $1 AND t.customer_id = ANY($2::uuid[])
      AND NOT EXISTS (SELECT 1 FROM figures WHERE figures.customer_id = t.customer_id)
)
INSERT INTO customer.order_totals (
    tenant_id, customer_id, total_orders, lifetime_value, total_spend, first_order_date,
    last_order_date, last_order_ref, last_order_name, last_currency, monthly_spend
)
SELECT $1, customer_id, total_orders, lifetime_value, total_spend, first_order_date,
    last_order_date, last_order_ref, last_order_name, last_currency, monthly_spend
FROM figures JOIN months USING (customer_id)
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
    total_orders = EXCLUDED.total_orders, lifetime_value = EXCLUDED.lifetime_value,
    total_spend = EXCLUDED.total_spend, first_order_date = EXCLUDED.first_order_date,
    last_order_date = EXCLUDED.last_order_date, last_order_ref = EXCLUDED.last_order_ref,
    last_order_name = EXCLUDED.last_order_name, last_currency = EXCLUDED.last_currency,
    monthly_spend = EXCLUDED.monthly_spend
"""

# The maintained figures plus the one that depends on the clock, the running 12-month spend
# (customer.order_totals_of, 0017: defined once in SQL, inlined into this statement; $3-$5 are
# `spend_window`).
SELECT_TOTALS = "SELECT * FROM customer.order_totals_of($1, $2::uuid[], $3, $4, $5)"

# The figures as a statement reads them beside each customer it returns (spend_of_row takes
# them from the row): FIGURE_COLUMNS of `figures_join`'s `t`.
FIGURE_COLUMNS = (
    "t.total_orders, t.lifetime_value, t.total_spend, t.first_order_date, t.last_order_date,"
    " t.last_order_ref, t.last_order_name, t.last_currency, t.running_spend"
)


def figures_join(customer_id: str, window_from: int) -> str:
    """The figures (as `t`) of the customer whose id is the expression `customer_id`, the tenant
    in $1 and the window (`spend_window`) in the three parameters from `$window_from` on; a
    customer without orders gets nulls."""
    n = window_from
    return (
        f"LEFT JOIN LATERAL customer.order_totals_of($1, ARRAY[{customer_id}], ${n}, ${n + 1},"
        f" ${n + 2}) AS t ON true"
    )


# Every fact attached to the customer, whatever its status (the data-subject export, API.md §9).
FACTS_OF_CUSTOMER = """
SELECT order_ref, order_name, customer_kind, customer_key, order_date, total, refunded_amount,
    currency, status, occurred_at, event_id
FROM customer.order_facts
WHERE tenant_id = $1 AND customer_id = $2
ORDER BY order_date, order_ref
"""

DELETE_OF_CUSTOMER = """
WITH facts AS (
    DELETE FROM customer.order_facts WHERE tenant_id = $1 AND customer_id = $2
)
DELETE FROM customer.order_totals WHERE tenant_id = $1 AND customer_id = $2
"""


async def mark_seen(conn: asyncpg.Connection, tenant: str, event_id: str) -> bool:
    """True the first time an event id is seen in the tenant."""
    return await conn.fetchval(MARK_SEEN, tenant, event_id) is not None


async def resolve_customer(
    conn: asyncpg.Connection, tenant: str, kind: str, key: str
) -> uuid.UUID | None:
    return await conn.fetchval(RESOLVE_CUSTOMER[kind], tenant, key)


async def upsert_fact(
    conn: asyncpg.Connection, tenant: str, fact: OrderFact, customer_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """Store the fact unless a later one is stored; the customers whose figures it changed."""
    row = await conn.fetchrow(
        UPSERT_FACT,
        tenant, fact.order_ref, fact.order_name, customer_id, fact.customer_kind,
        fact.customer_key, fact.order_date, fact.total, fact.refunded_amount, fact.currency,
        fact.status, fact.occurred_at, fact.event_id,
    )  # fmt: skip
    if row is None:
        return []
    return [c for c in (row["customer_id"], row["previous"]) if c is not None]


async def attach_pending(
    conn: asyncpg.Connection, tenant: str, refs: Sequence[str], emails: Sequence[str]
) -> set[uuid.UUID]:
    """Attach waiting facts to the live customers carrying these refs or lower-cased emails."""
    if not refs and not emails:
        return set()
    rows = await conn.fetch(ATTACH_PENDING, tenant, list(refs), list(emails))
    return {row["customer_id"] for row in rows}


async def recompute_totals(
    conn: asyncpg.Connection, tenant: str, customer_ids: Iterable[uuid.UUID]
) -> None:
    ids = sorted(set(customer_ids))
    if not ids:
        return
    await conn.execute(LOCK_CUSTOMERS, tenant, ids)
    await conn.execute(RECOMPUTE_TOTALS, tenant, ids)


def spend_window(since: datetime) -> tuple[datetime, datetime, str]:
    """The running spend's window from `since` as customer.order_totals_of takes it: its start
    (the partial first month is summed from the facts), the next month's start and that month's
    "YYYY-MM" key (whole months from there on come from monthly_spend)."""
    month = since.astimezone(UTC)
    next_month = (month.replace(day=1) + timedelta(days=32)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    return since, next_month, next_month.strftime("%Y-%m")


async def fetch_totals(
    conn: asyncpg.Connection, tenant: str, customer_ids: Sequence[uuid.UUID], since: datetime
) -> dict[uuid.UUID, asyncpg.Record]:
    """Totals of those customers that have placed orders, with the spend from `since` on."""
    rows = await conn.fetch(SELECT_TOTALS, tenant, list(customer_ids), *spend_window(since))
    return {row["customer_id"]: row for row in rows}


async def facts_of_customer(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID
) -> list[asyncpg.Record]:
    return await conn.fetch(FACTS_OF_CUSTOMER, tenant, customer_id)


async def delete_of_customer(conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID) -> None:
    await conn.execute(DELETE_OF_CUSTOMER, tenant, customer_id)
