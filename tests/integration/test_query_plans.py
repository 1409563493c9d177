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
from typing import Any

import asyncpg
import pytest

from customer_service import repository
from shared.db import create_pool, tenant_transaction
from shared.imports import chunks as import_repository
from shared.settings import Settings

ROWS = 5_000
SAMPLE = 1_234  # generate_series number of the customer every lookup looks for
OTHER_TENANTS = 30
ROWS_PER_OTHER_TENANT = 100

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
        await conn.execute("ANALYZE customer.customers")
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
    **{f"search by {field}": (_search(field), {index}) for field, index in _SEARCH_INDEXES.items()},
    "search by firstName and lastName": (
        _search("firstName", "lastName"),
        {_SEARCH_INDEXES["firstName"], _SEARCH_INDEXES["lastName"]},
    ),
    "search by every criterion": (
        _search(*repository.SEARCH_COLUMNS),
        set(_SEARCH_INDEXES.values()),
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
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + "]::text[]"
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
    used = set(re.findall(r"Index (?:Only )?Scan (?:using|on) (\w+)", plan))
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
