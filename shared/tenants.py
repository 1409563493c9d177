"""Whether a tenant exists, asked of auth_service's data through its function
(0013_tenant_exists.sql), never its tables."""

from __future__ import annotations

import asyncpg

TENANT_EXISTS = "SELECT auth.tenant_exists($1)"


async def tenant_exists(conn: asyncpg.Connection, tenant: str) -> bool:
    return bool(await conn.fetchval(TENANT_EXISTS, tenant))
