"""All customer SQL. Every statement takes the tenant as a parameter; the connection comes from
`shared.db.tenant_transaction`, so row-level security applies as well."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from shared.amqp import CUSTOMER_EVENTS_EXCHANGE
from shared.customers.columns import CUSTOMER_COLUMNS, unique_field
from shared.errors import Conflict
from shared.log import current_request_id
from shared.orders.repository import FIGURE_COLUMNS, figures_join
from shared.outbox import OUTBOX_INSERT_INTO, add_outbox_message

_CUSTOMER_COLUMNS = CUSTOMER_COLUMNS

INSERT_CUSTOMER = f"""
INSERT INTO customer.customers (
    tenant_id, id, customer_ref, alternate_customer_ref, email, first_name, last_name,
    mobile, phone, profile, created_at, last_modified_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
RETURNING {_CUSTOMER_COLUMNS}
"""

UPDATE_CUSTOMER = f"""
UPDATE customer.customers SET
    customer_ref = $3, alternate_customer_ref = $4, email = $5, first_name = $6,
    last_name = $7, mobile = $8, phone = $9, profile = $10, last_modified_at = $11
WHERE tenant_id = $1 AND id = $2 AND NOT deleted
RETURNING {_CUSTOMER_COLUMNS}
"""

# Lookups by each identifier. Email compares case-insensitively through the generated column
# email_lower (0004_email_lower.sql): under row-level security only leakproof conditions can use
# an index, so lower() may be applied to the parameter but never to a column.
_WHERE_IDENTIFIER = {
    "id": "id = $2",
    "customerRef": "customer_ref = $2",
    "alternateCustomerRef": "alternate_customer_ref = $2",
    "email": "email_lower = lower($2)",
}
SELECT_BY = {
    kind: f"""
SELECT {_CUSTOMER_COLUMNS} FROM customer.customers
WHERE tenant_id = $1 AND {condition} AND NOT deleted
"""
    for kind, condition in _WHERE_IDENTIFIER.items()
}

# A live customer by id in one statement that sets its own tenant (0008_app_login_role.sql):
# for `shared.db.tenant_fetchrow`, outside a tenant transaction.
SELECT_LIVE_BY_ID = "SELECT * FROM customer.live_customer_by_id($1, $2)"
# The same with the customer's order figures beside its columns (0017_customer_with_spend.sql:
# customer.order_totals_of joined; $3-$5 are orders.repository.spend_window's): the v2 read.
SELECT_LIVE_WITH_SPEND = "SELECT * FROM customer.live_customer_with_spend($1, $2, $3, $4, $5)"

# Search criteria → column expressions; every given criterion must match exactly (email
# case-insensitively, through email_lower as above).
SEARCH_COLUMNS = {
    "email": "email_lower = lower(${n})",
    "firstName": "first_name = ${n}",
    "lastName": "last_name = ${n}",
    "mobile": "mobile = ${n}",
    "phone": "phone = ${n}",
}
SEARCH_LIMIT = 100

# Scrubs everything personal; the row stays only as a tombstone (id and timestamps).
SOFT_DELETE = """
UPDATE customer.customers AS c SET
    deleted = true, deleted_at = $3, last_modified_at = $3,
    customer_ref = NULL, alternate_customer_ref = NULL, email = NULL, first_name = NULL,
    last_name = NULL, mobile = NULL, phone = NULL, profile = '{}'::jsonb
FROM (
    SELECT id, customer_ref, alternate_customer_ref, email FROM customer.customers
    WHERE tenant_id = $1 AND id = $2 AND NOT deleted
    FOR UPDATE
) AS before
WHERE c.tenant_id = $1 AND c.id = before.id
RETURNING c.id, before.customer_ref, before.alternate_customer_ref, before.email
"""


# A create or an update with everything else its transaction writes, in one statement: one
# round trip instead of four (the write, its outbox event, attaching the order facts that were
# waiting for the customer's customerRef or email, reading its figures). `{write}` is
# INSERT_CUSTOMER or UPDATE_CUSTOMER ($1-$11, RETURNING the customer's columns); then $12-$16 the
# outbox row (shared.outbox's columns), $17 the email lower-cased (as
# the order facts' keys are), $18-$20 the figures' window
# (shared.orders.repository.spend_window). The attach is shared.orders.repository.ATTACH_PENDING
# for this one customer: the facts naming the values it now holds (a sibling of the write sees
# the table as it was, so the customer's new values come from `written`). `attached_facts` > 0:
# the figures read here predate them (the caller recomputes and reads them again).
_WRITE_AND_ANNOUNCE = """
WITH written AS ({write}),
announced AS (
    {outbox_insert_into}
    SELECT $12::uuid, $1, $13::text, $14::text, $15::jsonb, $16::text FROM written
),
attached AS (
    UPDATE customer.order_facts AS f SET customer_id = w.id
    FROM written AS w
    WHERE f.tenant_id = $1 AND f.customer_id IS NULL
      AND ((f.customer_kind = 'customerRef' AND f.customer_key = w.customer_ref)
           OR (f.customer_kind = 'email' AND f.customer_key = $17::text
               AND w.email_lower = $17::text))
    RETURNING f.customer_id
)
SELECT {columns}, (SELECT count(*) FROM attached) AS attached_facts, {figure_columns}
FROM written AS w
{figures_join}
"""
_WRITTEN_COLUMNS = ", ".join(f"w.{column.strip()}" for column in _CUSTOMER_COLUMNS.split(","))
INSERT_AND_ANNOUNCE = _WRITE_AND_ANNOUNCE.format(
    write=INSERT_CUSTOMER.strip() + ", email_lower",
    columns=_WRITTEN_COLUMNS,
    outbox_insert_into=OUTBOX_INSERT_INTO,
    figure_columns=FIGURE_COLUMNS,
    figures_join=figures_join("w.id", 18),
)
UPDATE_AND_ANNOUNCE = _WRITE_AND_ANNOUNCE.format(
    write=UPDATE_CUSTOMER.strip() + ", email_lower",
    columns=_WRITTEN_COLUMNS,
    outbox_insert_into=OUTBOX_INSERT_INTO,
    figure_columns=FIGURE_COLUMNS,
    figures_join=figures_join("w.id", 18),
)


def _conflict(exc: asyncpg.UniqueViolationError) -> Conflict:
    field = unique_field(exc.constraint_name)
    return Conflict(
        f"Another customer already has this {field}.", errors={field: ["already in use"]}
    )


async def write_and_announce(
    conn: asyncpg.Connection,
    statement: str,
    tenant: str,
    customer_id: uuid.UUID,
    columns: Mapping[str, Any],
    profile: Mapping[str, Any],
    now: datetime,
    event: Mapping[str, Any],
    spend_window: tuple[datetime, datetime, str],
) -> asyncpg.Record | None:
    """INSERT_AND_ANNOUNCE or UPDATE_AND_ANNOUNCE: the customer's row as written with its
    figures beside its columns (as customer.live_customer_with_spend gives them) and
    `attached_facts`; None when an update found no live customer. 409 on a taken value."""
    email = columns["email"]
    try:
        return await conn.fetchrow(
            statement, tenant, customer_id, *_column_values(columns), profile, now,
            uuid.UUID(event["eventId"]), CUSTOMER_EVENTS_EXCHANGE, event["type"], event,
            current_request_id(), email.lower() if email else None, *spend_window,
        )  # fmt: skip
    except asyncpg.UniqueViolationError as exc:
        raise _conflict(exc) from None


def _column_values(columns: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        columns["customer_ref"],
        columns["alternate_customer_ref"],
        columns["email"],
        columns["first_name"],
        columns["last_name"],
        columns["mobile"],
        columns["phone"],
    )


async def fetch_by(
    conn: asyncpg.Connection,
    tenant: str,
    kind: str,
    value: Any,
    *,
    for_update: bool = False,
    for_share: bool = False,
) -> asyncpg.Record | None:
    """The live customer whose identifier `kind` ("id", "customerRef", ...) equals `value`.

    `for_share` locks the row against a concurrent delete until the transaction ends: a delete
    in progress is waited for, and the row, re-read once it commits, is no longer live (None)."""
    lock = " FOR UPDATE" if for_update else " FOR SHARE" if for_share else ""
    return await conn.fetchrow(SELECT_BY[kind] + lock, tenant, value)


async def search(
    conn: asyncpg.Connection, tenant: str, criteria: Mapping[str, str]
) -> list[asyncpg.Record]:
    """Live customers matching every criterion (keys of SEARCH_COLUMNS), at most 100."""
    conditions = [
        SEARCH_COLUMNS[field].format(n=index) for index, field in enumerate(criteria, start=2)
    ]
    query = (
        f"SELECT {_CUSTOMER_COLUMNS} FROM customer.customers WHERE tenant_id = $1 AND "
        + " AND ".join(conditions)
        + f" AND NOT deleted ORDER BY created_at, id LIMIT {SEARCH_LIMIT}"
    )
    return await conn.fetch(query, tenant, *criteria.values())


# The live customers holding any of these ids, customerRefs, alternateCustomerRefs or emails
# (lower-cased): plain-column conditions, each served by its unique index under RLS.
SELECT_HOLDERS = """
SELECT id, customer_ref, alternate_customer_ref, email FROM customer.customers
WHERE tenant_id = $1 AND NOT deleted
  AND (id = ANY($2::uuid[]) OR customer_ref = ANY($3::text[])
       OR alternate_customer_ref = ANY($4::text[]) OR email_lower = ANY($5::text[]))
"""


async def fetch_holders(
    conn: asyncpg.Connection,
    tenant: str,
    ids: Sequence[uuid.UUID],
    refs: Sequence[str],
    alternate_refs: Sequence[str],
    emails_lower: Sequence[str],
) -> list[asyncpg.Record]:
    """The live customers that hold any of the given identifiers (see SELECT_HOLDERS)."""
    return await conn.fetch(
        SELECT_HOLDERS, tenant, list(ids), list(refs), list(alternate_refs), list(emails_lower)
    )


async def soft_delete(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID, now: datetime
) -> asyncpg.Record | None:
    """Tombstone the customer; the record returned holds the ids it had (for the event) and
    its email (to scrub the copies), never to be rendered."""
    return await conn.fetchrow(SOFT_DELETE, tenant, customer_id, now)


async def add_outbox_event(
    conn: asyncpg.Connection,
    tenant: str,
    event: Mapping[str, Any],
    *,
    exchange: str = CUSTOMER_EVENTS_EXCHANGE,
) -> None:
    await add_outbox_message(
        conn, tenant, exchange=exchange, routing_key=event["type"], payload=event,
        request_id=current_request_id(),  # a header for the consumers' logs (de-identification)
    )  # fmt: skip
