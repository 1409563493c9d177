"""Every customer lookup uses an index as customer_service runs it: as the app role, under
row-level security, as a prepared statement (custom and generic plan).

A condition that is not leakproof (e.g. `lower(email) = …`) cannot use an index under
row-level security: the lookup silently becomes a sequential scan, seconds at 1M customers. The SQL
is captured from the repository functions themselves, so a regression there fails here. No
`enable_seqscan = off`: the planner has real statistics (a few thousand rows, ANALYZE) and must
choose the index on its own.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from customer_service import repository
from customer_service.collection import params
from customer_service.collection import repository as collection_repository
from customer_service.export import repository as export_repository
from shared.db import create_pool, tenant_fetchrow, tenant_transaction
from shared.imports import chunks as import_repository
from shared.orders import service as orders
from shared.settings import Settings

ROWS = 5_000
SAMPLE = 1_234  # generate_series number of the customer every lookup looks for
OTHER_TENANTS = 30
ROWS_PER_OTHER_TENANT = 100
# One big tenant beside the sample's: a statement that reads a whole tenant (a count, a query
# search) must read that tenant's part of an index, not the table.
NEIGHBOUR_ROWS = 40_000

# Realistic-ish repetition: names repeat, identifiers are unique; every tenth row a tombstone.
_POPULATE = """
INSERT INTO customer.customers (
    tenant_id, id, customer_ref, alternate_customer_ref, email, first_name, last_name,
    mobile, phone, deleted
)
SELECT $1, gen_random_uuid(),
       CASE WHEN g % 10 = 0 THEN NULL ELSE 'REF-' || g END,
       CASE WHEN g % 10 = 0 THEN NULL ELSE 'ALT-' || g END,
       CASE WHEN g % 10 = 0 THEN NULL ELSE 'Customer.' || g || '@Example.com' END,
       'First' || g % 200, 'Last' || g % 1000,
       '+61 4' || lpad(g::text, 8, '0'), '+61 2' || lpad(g::text, 8, '0'),
       g % 10 = 0
FROM generate_series(1, $2) AS g
"""


@dataclass(frozen=True)
class Sample:
    """The customer the lookups look for, with the values each lookup is given."""

    tenant: str
    id: uuid.UUID
    criteria: dict[str, str]  # API search field → value (email in another case)


def _sample_criteria(n: int) -> dict[str, str]:
    return {
        "email": f"CUSTOMER.{n}@example.COM",
        "firstName": f"First{n % 200}",
        "lastName": f"Last{n % 1000}",
        "mobile": f"+61 4{n:08d}",
        "phone": f"+61 2{n:08d}",
    }


async def _populate(database_url: str, tenant: str) -> uuid.UUID:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(_POPULATE, tenant, ROWS)
        for n in range(OTHER_TENANTS):
            await conn.execute(_POPULATE, f"{tenant}_other{n}", ROWS_PER_OTHER_TENANT)
        await conn.execute(_POPULATE, f"{tenant}_neighbour", NEIGHBOUR_ROWS)
        # As autovacuum would: statistics, and the visibility map index-only scans rely on.
        await conn.execute("VACUUM ANALYZE customer.customers, customer.modified_order")
        return await conn.fetchval(
            "SELECT id FROM customer.customers WHERE tenant_id = $1 AND customer_ref = $2",
            tenant,
            f"REF-{SAMPLE}",
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def sample(test_settings: Settings) -> Iterator[Sample]:
    tenant = f"plans_{uuid.uuid4().hex[:12]}"
    customer_id = asyncio.run(_populate(test_settings.database_url, tenant))
    yield Sample(tenant, customer_id, _sample_criteria(SAMPLE))


class _CapturingConnection:
    """Stands in for a connection to learn the exact SQL and arguments a repository call sends."""

    query = ""
    args: tuple[Any, ...] = ()

    async def fetchrow(self, query: str, *args: Any) -> None:
        self.query, self.args = query, args

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        self.query, self.args = query, args
        return []


# The repository call of each lookup, given a connection, and the indexes that may serve it.
Call = Callable[[Any, Sample], Awaitable[Any]]
_SEARCH_INDEXES = {
    "email": "customers_email_key",
    "firstName": "customers_first_name_idx",
    "lastName": "customers_last_name_idx",
    "mobile": "customers_mobile_idx",
    "phone": "customers_phone_idx",
}
# First names have a second, deduplicated index for counting (0022); a lookup may take either.
_FIRST_NAME_COUNT_INDEX = "customers_first_name_count_idx"
_ALSO = {"firstName": {_FIRST_NAME_COUNT_INDEX}}


def _fetch_by(kind: str, *, for_update: bool = False) -> Call:
    def call(conn: Any, s: Sample) -> Awaitable[Any]:
        value = {
            "id": s.id,
            "customerRef": f"REF-{SAMPLE}",
            "alternateCustomerRef": f"ALT-{SAMPLE}",
            "email": s.criteria["email"],
        }[kind]
        return repository.fetch_by(conn, s.tenant, kind, value, for_update=for_update)

    return call


def _search(*fields: str) -> Call:
    def call(conn: Any, s: Sample) -> Awaitable[Any]:
        return repository.search(conn, s.tenant, {f: s.criteria[f] for f in fields})

    return call


def _import_matches(conn: Any, s: Sample) -> Awaitable[Any]:
    # As the import plan sends them: emails already lower-cased.
    return import_repository.fetch_matches(
        conn,
        s.tenant,
        [f"REF-{SAMPLE}", "REF-no-such"],
        [s.criteria["email"].lower(), "nobody@example.com"],
        [f"ALT-{SAMPLE}"],
    )


def _batch_holders(conn: Any, s: Sample) -> Awaitable[Any]:
    # As POST /customers/batch reads them once to group its items: every kind of identifier.
    return repository.fetch_holders(
        conn, s.tenant, [s.id], [f"REF-{SAMPLE}"], [f"ALT-{SAMPLE}"], [s.criteria["email"].lower()]
    )


LOOKUPS: dict[str, tuple[Call, set[str]]] = {
    "get by id": (_fetch_by("id"), {"customers_pkey"}),
    "get by id for update": (_fetch_by("id", for_update=True), {"customers_pkey"}),
    "get by customerRef": (_fetch_by("customerRef"), {"customers_customer_ref_key"}),
    "get by alternateCustomerRef": (
        _fetch_by("alternateCustomerRef"),
        {"customers_alternate_customer_ref_key"},
    ),
    "get by email": (_fetch_by("email"), {"customers_email_key"}),
    "get by email for update": (_fetch_by("email", for_update=True), {"customers_email_key"}),
    **{
        f"search by {field}": (_search(field), {index, *_ALSO.get(field, ())})
        for field, index in _SEARCH_INDEXES.items()
    },
    "search by firstName and lastName": (
        _search("firstName", "lastName"),
        {_SEARCH_INDEXES["firstName"], _SEARCH_INDEXES["lastName"], _FIRST_NAME_COUNT_INDEX},
    ),
    "search by every criterion": (
        _search(*repository.SEARCH_COLUMNS),
        {*_SEARCH_INDEXES.values(), _FIRST_NAME_COUNT_INDEX},
    ),
    "batch holders by id, customerRef, alternateCustomerRef, email": (
        _batch_holders,
        {
            "customers_pkey",
            "customers_customer_ref_key",
            "customers_alternate_customer_ref_key",
            "customers_email_key",
        },
    ),
    "import matches by customerRef, email, alternateCustomerRef": (
        _import_matches,
        {"customers_customer_ref_key", "customers_alternate_customer_ref_key", "customers_pkey"},
    ),
}


def test_every_search_criterion_is_covered() -> None:
    """A criterion added to the repository needs its index and a plan check here."""
    assert set(repository.SEARCH_COLUMNS) == set(_SEARCH_INDEXES)


def _literal(value: Any) -> str:
    if isinstance(value, list | tuple):
        kind = "uuid" if value and all(isinstance(v, uuid.UUID) for v in value) else "text"
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + f"]::{kind}[]"
    return "'" + str(value).replace("'", "''") + "'"


async def _plans(conn: asyncpg.Connection, query: str, args: tuple[Any, ...]) -> dict[str, str]:
    """The custom plan (for the given values) and the generic plan asyncpg's prepared statement
    may switch to after five executions."""
    await conn.execute(f"PREPARE plan_check AS {query}")
    try:
        execute = f"EXECUTE plan_check({', '.join(_literal(a) for a in args)})"
        plans = {}
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
            rows = await conn.fetch(f"EXPLAIN (COSTS OFF) {execute}")
            plans[mode] = "\n".join(row[0] for row in rows)
        return plans
    finally:
        await conn.execute("DEALLOCATE plan_check")


def _assert_index_scan(plan: str, indexes: set[str]) -> None:
    assert "Seq Scan" not in plan, plan
    used = set(re.findall(r"Index (?:Only )?Scan (?:Backward )?(?:using|on) (\w+)", plan))
    assert used & indexes, f"expected one of {sorted(indexes)}:\n{plan}"


@pytest.mark.parametrize("name", LOOKUPS)
async def test_lookup_uses_an_index_under_row_level_security(
    test_settings: Settings, sample: Sample, name: str
) -> None:
    call, indexes = LOOKUPS[name]
    captured = _CapturingConnection()
    await call(captured, sample)
    pool = await create_pool(test_settings.database_url, min_size=0, max_size=1)
    try:
        async with tenant_transaction(pool, sample.tenant) as conn:
            assert await conn.fetchval("SELECT current_user") == "customer_suite_app"
            plans = await _plans(conn, captured.query, captured.args)
            found = await call(conn, sample)  # the lookup itself, for real
    finally:
        await pool.close()
    for plan in plans.values():
        _assert_index_scan(plan, indexes)
    # The query also finds the customer (email in another case included).
    rows = found if isinstance(found, list) else [found]
    assert sample.id in [row["id"] for row in rows if row is not None]


async def test_import_email_match_function_uses_the_index(
    test_settings: Settings, sample: Sample
) -> None:
    """customer.live_customer_ids_by_email (SECURITY DEFINER, so EXPLAIN cannot look inside a
    call): its body, as stored, planned as its owner runs it."""
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        body = await conn.fetchval(
            "SELECT prosrc FROM pg_proc WHERE oid = "
            "'customer.live_customer_ids_by_email(text, text[])'::regprocedure"
        )
        query = re.sub(r"\bp_emails\b", "$2::text[]", re.sub(r"\bp_tenant\b", "$1", body))
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant', $1, true)", sample.tenant)
            plans = await _plans(conn, query, (sample.tenant, [sample.criteria["email"].lower()]))
            ids = await conn.fetch(query, sample.tenant, [sample.criteria["email"].lower()])
    finally:
        await conn.close()
    for plan in plans.values():
        _assert_index_scan(plan, {"customers_email_key"})
    assert [row["id"] for row in ids] == [sample.id]


async def test_get_by_id_function_uses_the_primary_key(
    test_settings: Settings, sample: Sample
) -> None:
    """customer.live_customer_by_id (GET /customers/{id} in one statement): EXPLAIN cannot look
    inside a PL/pgSQL call, so its query, as stored, is planned as the app role runs it under
    row-level security; the call itself finds the customer of its own tenant only."""
    pool = await create_pool(test_settings.app_dsn, min_size=0, max_size=1)
    try:
        async with tenant_transaction(pool, sample.tenant) as conn:
            body = await conn.fetchval(
                "SELECT prosrc FROM pg_proc WHERE oid = "
                "'customer.live_customer_by_id(text, uuid)'::regprocedure"
            )
            select = re.search(r"RETURN QUERY\s+(SELECT .*?);", body, re.S)
            assert select is not None
            query = re.sub(r"\bp_id\b", "$2::uuid", re.sub(r"\bp_tenant\b", "$1", select[1]))
            plans = await _plans(conn, query, (sample.tenant, sample.id))
        row = await tenant_fetchrow(pool, repository.SELECT_LIVE_BY_ID, sample.tenant, sample.id)
        other = await tenant_fetchrow(pool, repository.SELECT_LIVE_BY_ID, "elsewhere", sample.id)
    finally:
        await pool.close()
    for plan in plans.values():
        _assert_index_scan(plan, {"customers_pkey"})
    assert row is not None and row["id"] == sample.id
    assert other is None


async def test_get_with_spend_function_uses_primary_keys(
    test_settings: Settings, sample: Sample
) -> None:
    """customer.live_customer_with_spend (GET /customers/{id} with its figures, one statement):
    its query, as stored, planned as the app role runs it under row-level security, reads the
    customer and its totals by primary key (order_totals_of is inlined into it); the call finds
    the customer of its own tenant only."""
    window = orders.window_since(datetime.now(UTC))
    pool = await create_pool(test_settings.app_dsn, min_size=0, max_size=1)
    try:
        async with tenant_transaction(pool, sample.tenant) as conn:
            body = await conn.fetchval(
                "SELECT prosrc FROM pg_proc WHERE oid = 'customer.live_customer_with_spend"
                "(text, uuid, timestamptz, timestamptz, text)'::regprocedure"
            )
            select = re.search(r"RETURN QUERY\s+(SELECT .*?);", body, re.S)
            assert select is not None
            query = select[1]
            for name, parameter in (("p_tenant", "$1"), ("p_id", "$2::uuid"),
                                    ("p_since", "$3::timestamptz"),
                                    ("p_next_month", "$4::timestamptz"),
                                    ("p_next_month_key", "$5::text")):  # fmt: skip
                query = re.sub(rf"\b{name}\b", parameter, query)
            plans = await _plans(conn, query, (sample.tenant, sample.id, *window))
        row = await tenant_fetchrow(
            pool, repository.SELECT_LIVE_WITH_SPEND, sample.tenant, sample.id, *window
        )
        other = await tenant_fetchrow(
            pool, repository.SELECT_LIVE_WITH_SPEND, "elsewhere", sample.id, *window
        )
    finally:
        await pool.close()
    for plan in plans.values():
        assert "Seq Scan" not in plan, plan
        assert "customers_pkey" in plan and "order_totals_pkey" in plan, plan
        assert "order_totals_of" not in plan, plan  # inlined, not called per row
    assert row is not None and row["id"] == sample.id
    assert other is None


# --- The customer collection (API.md §7): pages, counts, query search ---------------------------

_SORT_INDEXES = {
    "createdDate": "customers_created_idx",
    "lastModifiedDate": "modified_order_idx",
    "email": "customers_email_key",
    "firstName": "customers_first_name_idx",
    "lastName": "customers_last_name_idx",
    "customerRef": "customers_customer_ref_key",
}
_FILTER_INDEXES = {
    **_SEARCH_INDEXES,
    "firstName": _FIRST_NAME_COUNT_INDEX,
    "customerRef": "customers_customer_ref_key",
    "alternateCustomerRef": "customers_alternate_customer_ref_key",
    "createdSince": "customers_created_idx",
    "modifiedSince": "modified_order_idx",
}
_FILTER_VALUES = {
    **_sample_criteria(SAMPLE),
    "customerRef": f"REF-{SAMPLE}",
    "alternateCustomerRef": f"ALT-{SAMPLE}",
    "createdSince": "2999-01-01T00:00:00Z",
    "modifiedSince": "2999-01-01T00:00:00Z",
}
_STORE_INDEXES = {"customers_joined_store_idx", "customers_location_idx"}
# A page at the issue's depth: page 49 of 20.
_LIMIT, _OFFSET = 20, 980
# The figures' window every page statement takes after LIMIT and OFFSET.
_WINDOW = orders.window_since(datetime.now(UTC))


def _page_plans() -> dict[str, tuple[str, tuple[Any, ...], set[str]]]:
    """name → (SQL, values after the tenant, indexes that may serve it) of every page statement
    collection.repository sends: each sort in each direction (DESC of a nullable column as its
    two ranges), with and without a filter."""
    statements: dict[str, tuple[str, tuple[Any, ...], set[str]]] = {}
    for field, index in _SORT_INDEXES.items():
        for descending in (False, True):
            sort = params.Sort(field, descending)
            segments = ("present", "absent") if descending and sort.nullable else (None,)
            for segment in segments:
                # As list_page sends them: the first range with its total, the null one alone.
                statement = (
                    collection_repository.page_statement
                    if segment == "absent"
                    else collection_repository.counted_page_statement
                )
                sql, values = statement([], sort, segment=segment)
                name = f"page by {field} {'DESC' if descending else 'ASC'} {segment or ''}"
                statements[name] = (sql, (*values, _LIMIT, _OFFSET, *_WINDOW), {index})
    sql, values = collection_repository.counted_page_statement(
        params.filters_of({"lastName": _FILTER_VALUES["lastName"]}), params.Sort("email", False)
    )
    statements["page by email filtered by lastName"] = (
        sql,
        (*values, _LIMIT, 0, *_WINDOW),
        {_SORT_INDEXES["email"], _FILTER_INDEXES["lastName"]},
    )
    # Incremental sync (API.md §7), and a modified range in another order.
    since = params.filters_of({"modifiedSince": _FILTER_VALUES["modifiedSince"]})
    for field in ("lastModifiedDate", "email"):
        sql, values = collection_repository.counted_page_statement(since, params.Sort(field, False))
        statements[f"page by {field} filtered by modifiedSince"] = (
            sql,
            (*values, _LIMIT, 0, *_WINDOW),
            {_SORT_INDEXES[field], _FILTER_INDEXES["modifiedSince"]},
        )
    return statements


def _count_plans() -> dict[str, tuple[str, tuple[Any, ...], set[str]]]:
    statements = {}
    for name, index in _FILTER_INDEXES.items():
        conditions = params.filters_of({name: _FILTER_VALUES[name]})
        sql, values = collection_repository.count_statement(conditions)
        statements[f"count by {name}"] = (sql, tuple(values), {index})
    both = params.filters_of(
        {"modifiedSince": _FILTER_VALUES["modifiedSince"], "lastName": _FILTER_VALUES["lastName"]}
    )
    sql, values = collection_repository.count_statement(both)
    statements["count by modifiedSince and lastName"] = (
        sql,
        tuple(values),
        {_FILTER_INDEXES["modifiedSince"], _FILTER_INDEXES["lastName"]},
    )
    store = params.search_of({"storeUid": "store-1"}).conditions
    sql, values = collection_repository.count_statement(store)
    statements["count by storeUid"] = (sql, tuple(values), _STORE_INDEXES)
    for field in ("lastName", "customerRef"):
        column = params.Sort(field, True).column
        sql, values = collection_repository.count_statement([], null_column=column)
        statements[f"count without {field}"] = (sql, tuple(values), {_SORT_INDEXES[field]})
    return statements


COLLECTION_STATEMENTS = {**_page_plans(), **_count_plans()}


def test_every_filter_and_sort_is_covered() -> None:
    """A filter or sort added to the collection needs its index and a plan check here."""
    assert set(params.SORT_COLUMNS) == set(_SORT_INDEXES)
    assert set(params.FILTER_NAMES) - {"customerExternalId"} == set(_FILTER_INDEXES)


@pytest.mark.parametrize("name", COLLECTION_STATEMENTS)
async def test_collection_statement_uses_an_index_under_row_level_security(
    test_settings: Settings, sample: Sample, name: str
) -> None:
    sql, values, indexes = COLLECTION_STATEMENTS[name]
    args = (sample.tenant, *values)
    pool = await create_pool(test_settings.database_url, min_size=0, max_size=1)
    try:
        async with tenant_transaction(pool, sample.tenant) as conn:
            assert await conn.fetchval("SELECT current_user") == "customer_suite_app"
            plans = await _plans(conn, sql, args)
            await conn.fetch(sql, *args)  # and it runs
    finally:
        await pool.close()
    for plan in plans.values():
        _assert_index_scan(plan, indexes)
        if name.startswith("page by"):
            # Each customer's figures beside it: order_totals_of inlined, by primary key.
            assert "order_totals_pkey" in plan and "order_totals_of" not in plan, plan
        if name.startswith("page by") and "filtered" not in name:
            # The page's ids from the sort index alone: OFFSET never reads skipped rows.
            (index,) = indexes
            assert re.search(rf"Index Only Scan (Backward )?using {index}", plan), plan


async def test_incremental_sync_reads_only_the_modified_range(
    test_settings: Settings, sample: Sample
) -> None:
    """`?modifiedSince=T&sortBy=lastModifiedDate` (and its count) start at T in the order
    table's index (0021), not at the tenant's first customer."""
    since = params.filters_of({"modifiedSince": _FILTER_VALUES["modifiedSince"]})
    page_sql, values = collection_repository.counted_page_statement(
        since, params.Sort("lastModifiedDate", False)
    )
    count_sql, _ = collection_repository.count_statement(since)
    pool = await create_pool(test_settings.database_url, min_size=0, max_size=1)
    try:
        async with tenant_transaction(pool, sample.tenant) as conn:
            plans = {
                **await _plans(conn, page_sql, (sample.tenant, *values, _LIMIT, 0, *_WINDOW)),
                **{
                    f"count {kind}": plan
                    for kind, plan in (
                        await _plans(conn, count_sql, (sample.tenant, *values))
                    ).items()
                },
            }
    finally:
        await pool.close()
    ranged = re.compile(
        r"Index Only Scan using modified_order_idx on modified_order m\n\s+"
        r"Index Cond: \(\(tenant_id = .*\) AND \(modified_at >= "
    )
    assert len(plans) == 4
    for plan in plans.values():
        assert ranged.search(plan), plan


async def _search_with_plans(
    test_settings: Settings,
    tenant: str,
    search: params.SearchQuery,
    sort: params.Sort,
    page: params.Page,
) -> tuple[list[Any], int, list[str]]:
    """The repository's query search run for real as the app role under row-level security,
    with the plan of every statement customer.search_page runs inside (SECURITY DEFINER, so
    EXPLAIN cannot look into a call: auto_explain logs each nested statement as it runs)."""
    conn = await asyncpg.connect(test_settings.database_url)  # the owner: may LOAD
    plans: list[str] = []
    conn.add_log_listener(lambda _conn, message: plans.append(message.message))
    try:
        await conn.execute("LOAD 'auto_explain'")
        await conn.execute(
            "SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;"
            "SET client_min_messages = log"
        )
        async with conn.transaction():
            await conn.execute(
                "SELECT set_config('role', $1, true), set_config('app.tenant', $2, true)",
                "customer_suite_app",
                tenant,
            )
            records, total = await collection_repository.search_page(
                conn, tenant, search, sort, page, _WINDOW
            )
    finally:
        await conn.close()
    return (
        records,
        total,
        [p for p in plans if "Query Text:" in p and "customer.customers AS c" in p],
    )


async def _brute_force(
    test_settings: Settings, tenant: str, query: str, sort: params.Sort
) -> list[uuid.UUID]:
    """Every live match of the tenant in the page order of API.md §7, without any index."""
    direction = " DESC" if sort.descending else ""
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        rows = await conn.fetch(
            f"SELECT id FROM customer.customers WHERE tenant_id = $1 AND NOT deleted"
            f" AND strpos(search_text, $2) > 0"
            f" ORDER BY {sort.column}{direction} NULLS LAST, id{direction}",
            tenant,
            query.lower(),
        )
    finally:
        await conn.close()
    return [row["id"] for row in rows]


@pytest.mark.parametrize(
    ("query", "sort", "page"),
    [
        # Few matches (fewer than the cap): read through the trigram index, sorted.
        ("234", params.Sort("createdDate", False), params.Page(0, 20)),
        ("irst34", params.Sort("lastName", True), params.Page(1, 3)),
        # Common in the sample (a tenth of the customers) yet fewer than the cap in all: the
        # walk's count reaches the end of the tenant, then the trigram index as above.
        ("irst7", params.Sort("createdDate", True), params.Page(2, 20)),
        # Matches everywhere (more than the cap): the sort column's index, walked in order.
        ("ast", params.Sort("createdDate", False), params.Page(0, 20)),
        ("ast", params.Sort("customerRef", True), params.Page(49, 20)),
        ("ast", params.Sort("lastName", False), params.Page(3, 7)),
        ("ast", params.Sort("email", True), params.Page(49, 20)),
    ],
)
async def test_query_search_reads_an_index_and_only_the_page(
    test_settings: Settings, sample: Sample, query: str, sort: params.Sort, page: params.Page
) -> None:
    search = params.search_of({"query": query})
    records, total, plans = await _search_with_plans(
        test_settings, sample.tenant, search, sort, page
    )
    assert plans, "auto_explain logged no statement of customer.search_page"
    for plan in plans:
        assert "Seq Scan" not in plan, plan
    expected = await _brute_force(test_settings, sample.tenant, query, sort)
    assert [r["id"] for r in records] == expected[page.offset : page.offset + page.size]
    # First a sample (0019): how many of the tenant's first customers in createdDate order
    # match, from customers_created_idx alone (search_head), never a bitmap ...
    counts = [p for p in plans if "count(*)" in p and "search_head LIKE" in p]
    assert counts, plans
    for plan in counts:
        assert "Index Only Scan using customers_created_idx" in plan, plan
        assert "Bitmap" not in plan, plan
    capped = [p for p in plans if "array_agg" in p]
    walk = [p for p in plans if re.search(r"ARRAY\(\s*SELECT", p)]
    if len(expected) <= collection_repository.SEARCH_TOTAL_CAP:
        # ... few matches: every one of them through the trigram index, sorted.
        assert len(capped) == 1, capped
        assert "Bitmap Index Scan on customers_search_text_trgm" in capped[0], capped
        assert total == len(expected)
        assert not walk, walk
    else:
        # ... a substring in most rows: the same walk counts cap + 1 matches (no trigram
        # bitmap of every candidate), then the page by walking the sort column's index in order
        # (it stops at the page); the default sort's index alone (search_head in
        # customers_created_idx), the others reading each row passed.
        assert len(counts) == 2 and not capped, (counts, capped)
        assert total == collection_repository.SEARCH_TOTAL_CAP
        index = _SORT_INDEXES[sort.field]
        scan = r"Index Only Scan" if sort.field == "createdDate" else r"Index (Only )?Scan"
        assert walk and all(re.search(rf"{scan} (Backward )?using {index}", p) for p in walk)
        assert not any("Bitmap" in p for p in walk), walk


# A tenant of 2,100 customers created one a second, so the sample (its first 2,000) is fixed:
# "Qzk" is the last name of 3 in every 100 of them, "Vxw" of 1 in every 100.
_SHARES = """
INSERT INTO customer.customers (tenant_id, id, email, last_name, created_at, last_modified_at)
SELECT $1, gen_random_uuid(), 'share' || g || '@example.com',
       CASE WHEN g % 100 < 3 THEN 'Qzk' WHEN g % 100 = 50 THEN 'Vxw' ELSE 'Plain' END,
       timestamptz '2026-01-01T00:00:00Z' + g * interval '1 second',
       timestamptz '2026-01-01T00:00:00Z' + g * interval '1 second'
FROM generate_series(1, 2100) AS g
"""


@pytest.mark.parametrize(("query", "matches", "walk_counts"), [("qzk", 63, 2), ("vxw", 21, 1)])
async def test_query_search_walks_once_two_percent_of_the_sample_match(
    test_settings: Settings, sample: Sample, query: str, matches: int, walk_counts: int
) -> None:
    """0023: 2% of the sample matching (40 of 2,000) is common enough to count by walking
    customers_created_idx; 1% is not. Here the walk reaches the end of the tenant under the
    cap, so the page then comes from every match either way (0015's step 1)."""
    tenant = f"{sample.tenant}_share_{query}"
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        await conn.execute(_SHARES, tenant)
        await conn.execute("ANALYZE customer.customers")
    finally:
        await conn.close()
    sort, page = params.Sort("createdDate", False), params.Page(0, 20)
    records, total, plans = await _search_with_plans(
        test_settings, tenant, params.search_of({"query": query}), sort, page
    )
    counts = [p for p in plans if "count(*)" in p and "search_head LIKE" in p]
    assert len(counts) == walk_counts, counts
    assert all("Index Only Scan using customers_created_idx" in p for p in counts), counts
    assert total == matches
    assert [r["id"] for r in records] == (await _brute_force(test_settings, tenant, query, sort))[
        :20
    ]


async def test_search_head_is_search_text_when_short_enough(
    test_settings: Settings, sample: Sample
) -> None:
    """customer.search_head repeats 0009's search_text expression: equal to it up to 500
    characters, null beyond (then the walk reads search_text from the table)."""
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        await conn.execute(
            "INSERT INTO customer.customers (tenant_id, id, email, first_name, profile)"
            " VALUES ($1, gen_random_uuid(), 'Long@X.com', 'Lo', $2::jsonb)",
            f"{sample.tenant}_head",
            '{"addresses": [{"city": "Ümlaut", "company": "%s", "postcode": "X1"}]}' % ("C" * 600),
        )
        differing = await conn.fetchval(
            "SELECT count(*) FROM customer.customers WHERE tenant_id LIKE $1 || '%'"
            " AND search_head IS DISTINCT FROM"
            " CASE WHEN length(search_text) <= 500 THEN search_text END",
            sample.tenant,
        )
        long_rows = await conn.fetchval(
            "SELECT count(*) FROM customer.customers WHERE tenant_id = $1"
            " AND search_head IS NULL AND length(search_text) > 500",
            f"{sample.tenant}_head",
        )
    finally:
        await conn.close()
    assert (differing, long_rows) == (0, 1)


async def test_query_search_with_criteria_uses_their_indexes_too(
    test_settings: Settings, sample: Sample
) -> None:
    """The exact criteria of the body narrow the trigram search inside the function; the
    sample's own email and mobile find it, another tenant's transaction finds nothing."""
    search = params.search_of(
        {"query": "ast", "email": sample.criteria["email"], "mobile": sample.criteria["mobile"]}
    )
    sort, page = params.Sort("createdDate", False), params.Page(0, 20)
    records, total, plans = await _search_with_plans(
        test_settings, sample.tenant, search, sort, page
    )
    assert ([r["id"] for r in records], total) == ([sample.id], 1)
    assert plans and all("Seq Scan" not in p for p in plans), plans
    assert any("customers_email_key" in p or "customers_mobile_idx" in p for p in plans), plans
    # Named for another tenant than the transaction's own: nothing, though "ast" matches there.
    pool = await create_pool(test_settings.database_url, min_size=0, max_size=1)
    try:
        async with tenant_transaction(pool, sample.tenant) as conn:
            other = await conn.fetchrow(
                collection_repository.SEARCH_PAGE, f"{sample.tenant}_neighbour", "%ast%",
                None, None, None, None, "created_at", False, 20, 0, 1000,
            )  # fmt: skip
    finally:
        await pool.close()
    assert (other["total"], other["ids"]) == (0, [])


async def test_an_unfiltered_count_reads_the_kept_counter_not_the_customers(
    test_settings: Settings, sample: Sample
) -> None:
    """A bare total never scans the tenant's customers, and equals count(*) of them."""
    pool = await create_pool(test_settings.database_url, min_size=0, max_size=1)
    try:
        async with tenant_transaction(pool, sample.tenant) as conn:
            plans = await _plans(conn, collection_repository.LIVE_COUNT, (sample.tenant,))
            counted = await collection_repository.count(conn, sample.tenant, [])
            live = await conn.fetchval(
                "SELECT count(*) FROM customer.customers WHERE tenant_id = $1 AND NOT deleted",
                sample.tenant,
            )
    finally:
        await pool.close()
    for plan in plans.values():
        assert " on customers" not in plan, plan
    assert counted == live == ROWS - ROWS // 10


# --- The data-subject export (API.md §9): the customer's import row errors ---------------------

ROW_ERRORS = 20_000  # per tenant: the sample's and a neighbour's

_POPULATE_ROW_ERRORS = """
WITH batch AS (
    INSERT INTO impex.batches (tenant_id, id, state) VALUES ($1, gen_random_uuid(), 'COMPLETED')
    RETURNING id
)
INSERT INTO impex.batch_errors (tenant_id, batch_id, record_no, customer_ref, email, errors)
SELECT $1, batch.id, g,
       CASE WHEN g % 3 = 0 THEN NULL ELSE 'REF-' || g END,
       CASE WHEN g % 4 = 0 THEN NULL ELSE 'Customer.' || g || '@Example.com' END,
       '{"dob": ["Not a valid date."]}'::jsonb
FROM batch, generate_series(1, $2) AS g
"""


@pytest.fixture(scope="module")
def row_errors(test_settings: Settings, sample: Sample) -> Sample:
    async def populate() -> None:
        conn = await asyncpg.connect(test_settings.database_url)
        try:
            for tenant in (sample.tenant, f"{sample.tenant}_neighbour"):
                await conn.execute(_POPULATE_ROW_ERRORS, tenant, ROW_ERRORS)
            await conn.execute("VACUUM ANALYZE impex.batch_errors")
        finally:
            await conn.close()

    asyncio.run(populate())
    return sample


async def test_export_row_errors_function_uses_both_indexes(
    test_settings: Settings, row_errors: Sample
) -> None:
    """impex.row_errors_naming (SECURITY DEFINER, so EXPLAIN cannot look inside a call): its
    body, as stored, planned as its owner runs it, reads the email and the ref index (a plain
    query as the app role would scan the table: lower(email) is not leakproof). Then the
    export's repository call, as the app role, finds the rows naming the sample by email in
    another case or by either ref, in its own tenant only."""
    email = row_errors.criteria["email"]  # CUSTOMER.1234@example.COM
    refs = [f"REF-{SAMPLE}", f"REF-{SAMPLE + 1}"]
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        body = await conn.fetchval(
            "SELECT prosrc FROM pg_proc WHERE oid = "
            "'impex.row_errors_naming(text, text, text[])'::regprocedure"
        )
        query = re.sub(r"\bp_tenant\b", "$1", body)
        query = re.sub(r"\bp_refs\b", "$3::text[]", re.sub(r"\bp_email\b", "$2", query))
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant', $1, true)", row_errors.tenant)
            plans = await _plans(conn, query, (row_errors.tenant, email, refs))
    finally:
        await conn.close()
    for plan in plans.values():
        _assert_index_scan(plan, {"batch_errors_email_idx"})
        _assert_index_scan(plan, {"batch_errors_customer_ref_idx"})
    pool = await create_pool(test_settings.database_url, min_size=0, max_size=1)
    try:
        async with tenant_transaction(pool, row_errors.tenant) as conn:
            assert await conn.fetchval("SELECT current_user") == "customer_suite_app"
            # What the export sends is the call (a plain query here would scan the table).
            sent = await _plans(
                conn, export_repository.IMPORT_ERRORS, (row_errors.tenant, email, refs)
            )
            found = await export_repository.import_errors(conn, row_errors.tenant, email, refs)
        async with tenant_transaction(pool, row_errors.tenant) as conn:
            foreign = await conn.fetch(
                export_repository.IMPORT_ERRORS, f"{row_errors.tenant}_neighbour", email, refs
            )
    finally:
        await pool.close()
    for plan in sent.values():
        assert "Seq Scan" not in plan and "row_errors_naming" in plan, plan
    # 1234: email and ref; 1235: ref only (1235 % 3 != 0). Never the neighbour's same rows.
    assert [row["record_no"] for row in found] == [SAMPLE, SAMPLE + 1]
    assert foreign == []
