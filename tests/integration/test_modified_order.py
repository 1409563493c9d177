"""customer.modified_order (0021): the lastModifiedDate order of a tenant's live customers, kept
beside the customers table so that an update changing no indexed value is heap-only (HOT).

It must hold exactly the live customers with their last_modified_at after every kind of write:
API creates, updates and deletes, batch items, multi-row SQL (as imports write), hard deletes;
and an attribute update through the service must be HOT."""

from __future__ import annotations

import asyncpg

from customer_service.service import CustomerService, Identifier
from shared.db import create_pool, joined_transaction, tenant_transaction
from tests.support.customers import MULTI_ROW_LIVE, write_multi_row

_KEPT = "SELECT id, modified_at FROM customer.modified_order WHERE tenant_id = $1 ORDER BY id"
_LIVE = (
    "SELECT id, last_modified_at AS modified_at FROM customer.customers"
    " WHERE tenant_id = $1 AND NOT deleted ORDER BY id"
)


async def _kept_and_live(database_url: str, tenant: str) -> tuple[list[tuple], list[tuple]]:
    conn = await asyncpg.connect(database_url)
    try:
        kept = [tuple(row) for row in await conn.fetch(_KEPT, tenant)]
        live = [tuple(row) for row in await conn.fetch(_LIVE, tenant)]
    finally:
        await conn.close()
    return kept, live


async def test_order_follows_api_writes_and_batches(calls, test_settings, unique_tenant):
    created = [await calls.create(email=f"c{i}@x.com") for i in range(4)]
    await calls.call("DELETE", f"/customers/{created[0]['id']}")
    await calls.call("PUT", f"/customers/id={created[1]['id']}", {"firstName": "Changed"})
    body = {
        "create": [{"email": "b1@x.com"}],
        "update": [{"id": created[2]["id"], "attributeGroups": {"g": {"attributes": {"a": "1"}}}}],
        "delete": [{"id": created[3]["id"]}],
    }
    status, _ = await calls.call("POST", "/customers/batch", body)
    assert status == 200
    kept, live = await _kept_and_live(test_settings.database_url, unique_tenant)
    assert kept == live and len(kept) == 3
    # The list in lastModifiedDate order reads it: the last written first, DESC (ties on id).
    _, page = await calls.call("GET", "/customers?sortBy=lastModifiedDate&sortDirection=DESC")
    newest_first = sorted(live, key=lambda row: (row[1], row[0]), reverse=True)
    assert [c["id"] for c in page["results"]] == [str(row[0]) for row in newest_first]
    assert created[1]["id"] in [c["id"] for c in page["results"]]


async def test_order_follows_multi_row_sql_and_hard_deletes(test_settings, unique_tenant):
    await write_multi_row(test_settings.database_url, unique_tenant)
    kept, live = await _kept_and_live(test_settings.database_url, unique_tenant)
    assert kept == live and len(kept) == MULTI_ROW_LIVE


async def _update_counts(pool: asyncpg.Pool, tenant: str) -> tuple[int, int]:
    """(updates, HOT updates) of customers this backend has not reported yet: the counts only
    grow while its transaction lasts."""
    async with tenant_transaction(pool, tenant) as conn:
        row = await conn.fetchrow(
            "SELECT pg_stat_get_xact_tuples_updated(r), pg_stat_get_xact_tuples_hot_updated(r)"
            " FROM CAST('customer.customers' AS regclass) AS r"
        )
    return row[0], row[1]


async def test_an_attribute_update_is_heap_only(test_settings, unique_tenant):
    """The service's own update statement (every column written, most with the value they had)
    leaves the customer's indexes alone when only unindexed values change: a HOT update. A name
    change is not one (its index entry moves)."""
    pool = await create_pool(test_settings.database_url, min_size=0, max_size=1)
    service = CustomerService(pool)
    try:
        created = await service.create(unique_tenant, {"email": "hot@x.com", "firstName": "Hot"})
        who = Identifier("id", created["id"])
        counts = []
        for change in ({"attributeGroups": {"g": {"attributes": {"a": "1"}}}}, {"lastName": "N"}):
            async with joined_transaction(pool, unique_tenant):
                before = await _update_counts(pool, unique_tenant)
                await service.update(unique_tenant, who, change)
                after = await _update_counts(pool, unique_tenant)
            counts.append((after[0] - before[0], after[1] - before[1]))
    finally:
        await pool.close()
    assert counts == [(1, 1), (1, 0)]
    kept, live = await _kept_and_live(test_settings.database_url, unique_tenant)
    assert kept == live and len(kept) == 1


async def test_a_tenant_reads_and_writes_only_its_own_order(test_settings, unique_tenant):
    """As the app role (which the triggers run as), another tenant's order is invisible and
    cannot be written, even by a statement that forgets its tenant filter."""
    other = unique_tenant + "_other"
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        for tenant in (unique_tenant, other):
            await conn.execute(
                "INSERT INTO customer.customers (tenant_id, id, email)"
                " VALUES ($1, gen_random_uuid(), 'o@x.com')",
                tenant,
            )
    finally:
        await conn.close()
    pool = await create_pool(test_settings.database_url, min_size=0, max_size=1)
    try:
        async with tenant_transaction(pool, unique_tenant) as conn:
            seen = await conn.fetch("SELECT tenant_id FROM customer.modified_order")
            moved = await conn.execute(
                "UPDATE customer.modified_order SET modified_at = now() WHERE tenant_id = $1",
                other,
            )
            try:
                await conn.execute(
                    "INSERT INTO customer.modified_order VALUES ($1, gen_random_uuid(), now())",
                    other,
                )
            except asyncpg.InsufficientPrivilegeError:
                refused = True
            else:
                refused = False
    finally:
        await pool.close()
    assert [row["tenant_id"] for row in seen] == [unique_tenant]
    assert moved == "UPDATE 0" and refused
