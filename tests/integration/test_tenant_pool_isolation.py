"""Tenant isolation on pooled connections, and the application's login role (0008).

A tenant transaction leaves nothing on its connection for the next user: its settings are
transaction-local and the session is reset before every tenant transaction, while the pool skips
its own reset round trip after one. And the role customer_service and impex_worker log in as
cannot step outside row-level security, whatever SQL it runs.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from customer_service.repository import SELECT_LIVE_BY_ID
from shared import db
from shared.app_keys import DB_POOL
from shared.db import APP_ROLE, create_pool, tenant_fetchrow, tenant_transaction
from shared.migrations import set_login_password
from tests.support.customers import insert_customer

TENANTS = 4
CUSTOMERS_PER_TENANT = 3


async def _seed(pool: asyncpg.Pool, tenants: list[str]) -> dict[str, set[uuid.UUID]]:
    seeded: dict[str, set[uuid.UUID]] = {}
    for tenant in tenants:
        seeded[tenant] = set()
        for _ in range(CUSTOMERS_PER_TENANT):
            seeded[tenant].add(await insert_customer(pool, tenant))
    return seeded


class _Planned(Exception):
    """Raised inside a tenant transaction to take its rollback path."""


async def test_alternating_tenants_on_one_pooled_connection_under_load(
    test_settings, unique_tenant
):
    """Hundreds of concurrent tenant transactions of four tenants share one connection (the pool
    holds one): every answer holds exactly its own tenant's rows, including after transactions
    that failed, that left session state behind, or that used the connection without a tenant."""
    pool = await create_pool(test_settings.app_dsn, min_size=0, max_size=1)
    tenants = [f"{unique_tenant}_{i}" for i in range(TENANTS)]
    try:
        seeded = await _seed(pool, tenants)
        backends: set[int] = set()
        checked = itertools.count()

        async def read(tenant: str, *, fail: bool) -> None:
            async with tenant_transaction(pool, tenant) as conn:
                # No tenant filter: row-level security alone decides what is visible.
                rows = await conn.fetch(
                    "SELECT tenant_id, id, current_setting('app.tenant') AS setting, "
                    "pg_backend_pid() AS pid FROM customer.customers"
                )
                assert {r["id"] for r in rows} == seeded[tenant]
                assert {r["tenant_id"] for r in rows} == {tenant}
                assert {r["setting"] for r in rows} == {tenant}
                backends.update(r["pid"] for r in rows)
                next(checked)
                if fail:
                    raise _Planned

        async def write(tenant: str) -> None:
            # A change rolled back: it must neither stay nor show to the next tenant.
            with pytest.raises(_Planned):
                async with tenant_transaction(pool, tenant) as conn:
                    await conn.execute(
                        "UPDATE customer.customers SET first_name = 'changed' WHERE true"
                    )
                    raise _Planned
            next(checked)

        async def without_tenant() -> None:
            # The pool's other users (relay, probes) get a session with no tenant in it.
            async with db.connection(pool) as conn:
                assert await conn.fetchval("SELECT current_setting('app.tenant', true)") in (
                    None,
                    "",
                )
                assert await conn.fetchval("SELECT count(*) FROM customer.customers") == 0
                # Session state left by this user must not reach the next tenant transaction.
                await conn.execute("SELECT set_config('app.tenant', $1, false)", tenants[0])
            next(checked)

        async def leaves_session_state(tenant: str) -> None:
            # A careless session-level setting inside a tenant transaction: the next tenant
            # transaction on this connection starts from a reset session all the same.
            async with tenant_transaction(pool, tenant) as conn:
                await conn.execute("SET app.tenant = 'nobody'")
            next(checked)

        async def read_one(tenant: str, i: int) -> None:
            # One statement that sets its tenant itself (no tenant transaction around it).
            own = sorted(seeded[tenant])[i % CUSTOMERS_PER_TENANT]
            row = await tenant_fetchrow(pool, SELECT_LIVE_BY_ID, tenant, own)
            assert row is not None and row["id"] == own
            foreign = sorted(seeded[tenants[(i + 1) % TENANTS]])[0]
            assert await tenant_fetchrow(pool, SELECT_LIVE_BY_ID, tenant, foreign) is None
            next(checked)

        async def failed(tenant: str) -> None:
            with pytest.raises(_Planned):
                await read(tenant, fail=True)

        jobs = []
        for i in range(600):
            tenant = tenants[i % TENANTS]
            kind = i % 10
            if kind == 3:
                jobs.append(failed(tenant))
            elif kind == 5:
                jobs.append(write(tenant))
            elif kind in (1, 6):
                jobs.append(read_one(tenant, i))
            elif kind == 8:
                jobs.append(leaves_session_state(tenant))
            elif kind in (7, 9):  # 9: right after a transaction that left session state
                jobs.append(without_tenant())
            else:
                jobs.append(read(tenant, fail=False))
        await asyncio.gather(*jobs)

        assert next(checked) == 600
        assert len(backends) == 1, "the pool was meant to hold a single connection"
        async with tenant_transaction(pool, tenants[1]) as conn:
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM customer.customers WHERE first_name = 'changed'"
                )
                == 0
            )
    finally:
        await pool.close()


async def test_app_login_cannot_bypass_row_level_security(test_settings, unique_tenant):
    """Logged in as the services log in, raw SQL sees no row without a tenant, none of another
    tenant's within a tenant transaction, and cannot switch role or turn the policies off."""
    owner_pool = await create_pool(test_settings.database_url, min_size=0, max_size=1)
    other = f"{unique_tenant}_other"
    try:
        seeded = await _seed(owner_pool, [unique_tenant, other])
    finally:
        await owner_pool.close()

    conn = await asyncpg.connect(test_settings.app_dsn)
    try:
        role = await conn.fetchrow(
            "SELECT rolname, rolsuper, rolbypassrls, rolcreaterole FROM pg_roles "
            "WHERE rolname = current_user"
        )
        assert dict(role) == {
            "rolname": APP_ROLE,
            "rolsuper": False,
            "rolbypassrls": False,
            "rolcreaterole": False,
        }
        assert await conn.fetchval("SELECT count(*) FROM customer.customers") == 0
        await conn.execute("RESET ROLE")
        assert await conn.fetchval("SELECT count(*) FROM customer.customers") == 0

        refused = [
            "SET ROLE postgres",
            "SET SESSION AUTHORIZATION postgres",
            "ALTER TABLE customer.customers DISABLE ROW LEVEL SECURITY",
            "ALTER TABLE customer.customers NO FORCE ROW LEVEL SECURITY",
            "DROP POLICY tenant_isolation ON customer.customers",
            "ALTER ROLE customer_suite_app BYPASSRLS",
            "SELECT secret_hash FROM auth.clients",
            "SELECT private_key_pem FROM auth.signing_keys",
        ]
        for statement in refused:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)

        # What it may do beyond its tenant's rows: through owner-run functions only.
        await conn.execute("SELECT customer.analyze_customers()")

        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant', $1, true)", unique_tenant)
            ids = await conn.fetch("SELECT id FROM customer.customers WHERE tenant_id = $1", other)
            assert ids == []
            mine = await conn.fetch("SELECT id FROM customer.customers")
            assert {r["id"] for r in mine} == seeded[unique_tenant]
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("UPDATE customer.customers SET tenant_id = $1 WHERE true", other)
    finally:
        await conn.close()


async def test_customer_service_logs_in_as_the_app_role(customer_client):
    """The service's pool is the app login, not the owner."""
    async with customer_client.app[DB_POOL].acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == APP_ROLE


async def test_migrations_set_the_login_password_from_its_url(test_settings):
    """`set_login_password` gives the role in a login URL the password in it (the migrations
    job does so for APP_DATABASE_URL); a URL without a password changes nothing."""
    role = f"cs_login_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(test_settings.database_url)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        parts = urlsplit(test_settings.database_url)
        host = parts.netloc.rpartition("@")[2]
        without = urlunsplit(parts._replace(netloc=f"{role}@{host}"))
        assert await set_login_password(test_settings.database_url, without) is False
        with_password = urlunsplit(parts._replace(netloc=f"{role}:s3cr%27t@{host}"))
        assert await set_login_password(test_settings.database_url, with_password) is True
        stored = await admin.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1", role)
        assert stored is not None and stored.startswith(("SCRAM-SHA-256$", "md5"))
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()
