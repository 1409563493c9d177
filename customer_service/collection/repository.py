"""The collection's SQL: pages, counts and query search over one tenant's live customers.

Statements are built from validated parts only (column names from params.SORT_COLUMNS, condition
templates from params); every value is a parameter and the tenant is always $1. Listing and
counting run under row-level security on plain-column conditions (leakproof, so indexed); the
"query" search reads through customer.search_page (0015), which uses the trigram index and
stops at the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from customer_service.collection.params import MODIFIED_SINCE, Condition, Page, SearchQuery, Sort
from customer_service.repository import _CUSTOMER_COLUMNS
from shared.orders.repository import FIGURE_COLUMNS, figures_join

# The figures' window: shared.orders.service.window_since's three values.
Window = tuple[datetime, datetime, str]

_LIVE = "FROM customer.customers WHERE tenant_id = $1 AND NOT deleted"
# lastModifiedDate's order is kept in its own table, so that customers' updates stay HOT (0021).
MODIFIED_COLUMN = "last_modified_at"
MODIFIED_ORDER = "FROM customer.modified_order AS m WHERE m.tenant_id = $1"
# The customer's columns, of the customers table joined as `c`.
_PAGE_COLUMNS = ", ".join(f"c.{column.strip()}" for column in _CUSTOMER_COLUMNS.split(","))


def _condition(condition: Condition, n: int) -> str:
    """The condition on the customers table, its parameter $n."""
    if condition.template == MODIFIED_SINCE:  # the order table's index (0021), by id
        return f"id IN (SELECT m.id {MODIFIED_ORDER} AND m.modified_at >= ${n})"
    return condition.template.format(p=f"${n}")


def _where(conditions: Sequence[Condition], first: int) -> tuple[str, list[Any]]:
    """` AND …` for the conditions on the customers table, numbering their parameters from
    `first`."""
    sql = "".join(f" AND {_condition(c, n)}" for n, c in enumerate(conditions, start=first))
    return sql, [c.value for c in conditions]


def _order_source(conditions: Sequence[Condition], first: int) -> str:
    """`FROM customer.modified_order AS m WHERE …` for the conditions (parameters numbered from
    `first`): a modified time's range on `m` itself, the others on the customer, by id. The
    order table holds live customers only (0021)."""
    numbered = list(enumerate(conditions, start=first))
    ranges = "".join(
        " AND " + c.template.format(p=f"${n}") for n, c in numbered if c.template == MODIFIED_SINCE
    )
    others = "".join(
        f" AND {_condition(c, n)}" for n, c in numbered if c.template != MODIFIED_SINCE
    )
    matching = f" AND EXISTS (SELECT {_LIVE}{others} AND id = m.id)" if others else ""
    return f"{MODIFIED_ORDER}{ranges}{matching}"


def _order(sort: Sort) -> str:
    direction = " DESC" if sort.descending else ""
    return f" ORDER BY {sort.column}{direction}, id{direction}"


def _sorted_ids(conditions: Sequence[Condition], sort: Sort, segment: str | None) -> str:
    """SELECT of the matching live customers' `id` and `sort_key` in `sort` order (parameters
    from $2): lastModifiedDate from the order table (0021), any other sort from its index on
    customers. `segment` as in page_statement."""
    if sort.column == MODIFIED_COLUMN:
        direction = " DESC" if sort.descending else ""
        return (
            f"SELECT m.id, m.modified_at AS sort_key {_order_source(conditions, 2)}"
            f" ORDER BY m.modified_at{direction}, m.id{direction}"
        )
    where, _ = _where(conditions, 2)
    if segment == "present":
        where += f" AND {sort.column} IS NOT NULL"
    elif segment == "absent":
        # All null here, so this is id order; naming the column too lets the planner see that
        # the (tenant_id, column, id) index gives that order (else it scans the primary key
        # filtering for the few nulls).
        where += f" AND {sort.column} IS NULL"
    return f"SELECT id, {sort.column} AS sort_key {_LIVE}{where}{_order(sort)}"


def page_statement(
    conditions: Sequence[Condition], sort: Sort, *, segment: str | None = None
) -> tuple[str, list[Any]]:
    """(SQL, values after the tenant) of one page, then LIMIT, OFFSET and the figures' window
    (`Window`) as the last five parameters: each customer with its figures beside its columns
    (shared.orders.repository.figures_join), as `orders.spend_of_row` takes them.

    The page's ids are found first, from the sort column's (tenant_id, column, id) index alone
    (an index-only scan: the rows skipped by OFFSET are never read from the table; for
    lastModifiedDate customer.modified_order's), then only the page's rows are read, by primary
    key.

    `segment` "present"/"absent" restricts to rows whose sort value is or is not null: a DESC
    page with nulls last is read as the non-null range of the index backwards, then the null one.
    """
    values = [c.value for c in conditions]
    n = len(values) + 2
    direction = " DESC" if sort.descending else ""
    sql = (
        f"SELECT {_PAGE_COLUMNS}, {FIGURE_COLUMNS}, page.sort_key FROM ("
        f"{_sorted_ids(conditions, sort, segment)} LIMIT ${n} OFFSET ${n + 1}"
        f") AS page JOIN customer.customers AS c ON c.tenant_id = $1 AND c.id = page.id"
        f" {figures_join('c.id', n + 2)}"
        f" ORDER BY page.sort_key{direction}, page.id{direction}"
    )
    return sql, values


def counted_page_statement(
    conditions: Sequence[Condition], sort: Sort, *, segment: str | None = None
) -> tuple[str, list[Any]]:
    """page_statement with the exact total in the same statement (one round trip): one row per
    customer, `total` in each; a single row of nulls but `total` when the page is empty."""
    page_sql, values = page_statement(conditions, sort, segment=segment)
    count_sql = LIVE_COUNT if not conditions else count_statement(conditions)[0]
    direction = " DESC" if sort.descending else ""
    sql = (
        f"SELECT total.n AS total, page.* FROM ({count_sql}) AS total(n)"
        f" LEFT JOIN LATERAL ({page_sql}) AS page ON true"
        f" ORDER BY page.sort_key{direction}, page.id{direction}"
    )
    return sql, values


def count_statement(
    conditions: Sequence[Condition], *, null_column: str | None = None
) -> tuple[str, list[Any]]:
    """(SQL, values after the tenant) counting the matching live customers; with `null_column`
    only those without a value there."""
    if null_column is None and any(c.template == MODIFIED_SINCE for c in conditions):
        # The modified time's range in the order table (live customers only), index only.
        return f"SELECT count(*) {_order_source(conditions, 2)}", [c.value for c in conditions]
    where, values = _where(conditions, 2)
    if null_column:
        where += f" AND {null_column} IS NULL"
    return f"SELECT count(*) {_LIVE}{where}", values


# A tenant's live customers, kept by triggers (0009): no scan of a big tenant for a bare total.
LIVE_COUNT = "SELECT coalesce(sum(live), 0)::bigint FROM customer.live_counts WHERE tenant_id = $1"

# A query search's `total` counts at most this many matches (0015): up to it every match is
# read and the total is exact; a search matching more answers this number, and its page is found
# by walking the sort order instead of reading every match.
SEARCH_TOTAL_CAP = 1000

# customer.search_page (0015): the page's ids in order and the (capped) total.
SEARCH_PAGE = (
    "SELECT total, ids FROM customer.search_page($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)

# The page's customers by id with their figures ($3-$5 the window), as the app role under
# row-level security.
SELECT_BY_IDS = (
    f"SELECT {_PAGE_COLUMNS}, {FIGURE_COLUMNS} FROM customer.customers AS c"
    f" {figures_join('c.id', 3)}"
    " WHERE c.tenant_id = $1 AND NOT c.deleted AND c.id = ANY($2::uuid[])"
)


async def count(conn: asyncpg.Connection, tenant: str, conditions: Sequence[Condition]) -> int:
    """How many live customers meet every condition (all of them: the kept counter)."""
    if not conditions:
        return await conn.fetchval(LIVE_COUNT, tenant)
    sql, values = count_statement(conditions)
    return await conn.fetchval(sql, tenant, *values)


async def list_page(
    conn: asyncpg.Connection,
    tenant: str,
    conditions: Sequence[Condition],
    sort: Sort,
    page: Page,
    window: Window,
) -> tuple[list[asyncpg.Record], int]:
    """One page of the matching live customers in `sort` order (nulls last, ties on id), each
    with its figures in `window`, and the exact total (the kept counter without conditions),
    all in one statement."""
    # DESC, nulls last: the rows with a value (the index backwards), then those without.
    segment = "present" if sort.descending and sort.nullable else None
    sql, values = counted_page_statement(conditions, sort, segment=segment)
    rows = await conn.fetch(sql, tenant, *values, page.size, page.offset, *window)
    total = rows[0]["total"]
    records = [row for row in rows if row["id"] is not None]
    if segment is None:
        return records, total
    if len(records) < page.size and page.offset + len(records) < total:
        sql, values = count_statement(conditions, null_column=sort.column)
        present = total - await conn.fetchval(sql, tenant, *values)
        sql, values = page_statement(conditions, sort, segment="absent")
        offset = max(0, page.offset - present)
        records += await conn.fetch(sql, tenant, *values, page.size - len(records), offset, *window)
    return records, total


async def search_page(
    conn: asyncpg.Connection,
    tenant: str,
    search: SearchQuery,
    sort: Sort,
    page: Page,
    window: Window,
) -> tuple[list[asyncpg.Record], int]:
    """One page of the live customers whose search_text is LIKE the search's pattern and that
    meet its exact criteria, in `sort` order, each with its figures in `window`, and their
    total (exact up to SEARCH_TOTAL_CAP)."""
    total, ids = await conn.fetchrow(
        SEARCH_PAGE, tenant, search.pattern, search.email, search.mobile, search.store,
        search.since, sort.column, sort.descending, page.size, page.offset, SEARCH_TOTAL_CAP,
    )  # fmt: skip
    if not ids:
        return [], total
    records = await conn.fetch(SELECT_BY_IDS, tenant, ids, *window)
    by_id = {record["id"]: record for record in records}
    # A customer deleted since the ids were read (same snapshot: never) would simply be missing.
    return [by_id[i] for i in ids if i in by_id], total
