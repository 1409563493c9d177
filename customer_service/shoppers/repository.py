"""All shopper SQL: credentials, sessions and one-time codes (0011_shoppers.sql).

Every statement takes the tenant; connections come from `shared.db.tenant_transaction`, so
row-level security applies too. Times are parameters (the service's clock), never now().
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from customer_service.repository import _CUSTOMER_COLUMNS

# What a login needs to know about the customer a username names: live, its state flags (in the
# profile only when set; absent means enabled and active) and its password hash, if any.
_LOGIN_COLUMNS = """
    c.id, c.email, c.profile->>'customer_state' AS customer_state,
    c.profile->'active' AS active, cr.password_hash
FROM customer.customers AS c
LEFT JOIN customer.shopper_credentials AS cr
    ON cr.tenant_id = c.tenant_id AND cr.customer_id = c.id
"""
SELECT_LOGIN_BY_EMAIL = f"""
SELECT {_LOGIN_COLUMNS}
WHERE c.tenant_id = $1 AND c.email_lower = lower($2) AND NOT c.deleted
"""
# A mobile number names a shopper only when exactly one live customer holds it (LIMIT 2 tells).
SELECT_LOGIN_BY_MOBILE = f"""
SELECT {_LOGIN_COLUMNS}
WHERE c.tenant_id = $1 AND c.mobile = $2 AND NOT c.deleted
LIMIT 2
"""
SELECT_LOGIN_BY_ID = f"""
SELECT {_LOGIN_COLUMNS}
WHERE c.tenant_id = $1 AND c.id = $2 AND NOT c.deleted
"""

# A session is created only while the credentials it was earned with still stand. FOR SHARE
# waits for a password change or a delete in flight and then sees its outcome: the changed hash
# (no row: the login fails) or no credentials at all. A login that locked first commits its
# session before the change deletes the customer's other sessions, so it is deleted with them.
LOCK_CREDENTIALS = """
SELECT password_hash FROM customer.shopper_credentials
WHERE tenant_id = $1 AND customer_id = $2
FOR SHARE
"""
INSERT_CREDENTIALS = """
INSERT INTO customer.shopper_credentials (tenant_id, customer_id, password_hash, created_at,
                                          updated_at)
VALUES ($1, $2, $3, $4, $4)
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET password_hash = $3, updated_at = $4
"""
UPDATE_PASSWORD = """
UPDATE customer.shopper_credentials SET password_hash = $3, updated_at = $4
WHERE tenant_id = $1 AND customer_id = $2
"""
SELECT_PASSWORD_FOR_UPDATE = """
SELECT password_hash FROM customer.shopper_credentials
WHERE tenant_id = $1 AND customer_id = $2
FOR UPDATE
"""

INSERT_SESSION = """
INSERT INTO customer.shopper_sessions (tenant_id, token_hash, customer_id, issued_at, expires_at)
VALUES ($1, $2, $3, $4, $5)
"""
DELETE_EXPIRED_SESSIONS = """
DELETE FROM customer.shopper_sessions
WHERE tenant_id = $1 AND customer_id = $2 AND expires_at <= $3
"""
SELECT_SESSION = """
SELECT customer_id, issued_at, expires_at FROM customer.shopper_sessions
WHERE tenant_id = $1 AND token_hash = $2 AND expires_at > $3
"""
# GET /me in one round trip: the session's customer, if the session is live.
SELECT_SESSION_CUSTOMER = f"""
SELECT {_CUSTOMER_COLUMNS} FROM customer.customers
WHERE tenant_id = $1 AND NOT deleted AND id = (
    SELECT customer_id FROM customer.shopper_sessions
    WHERE tenant_id = $1 AND token_hash = $2 AND expires_at > $3
)
"""
DELETE_SESSION = """
DELETE FROM customer.shopper_sessions WHERE tenant_id = $1 AND token_hash = $2
"""
# Every session of the customer but the one kept ($3; NULL keeps none).
DELETE_SESSIONS = """
DELETE FROM customer.shopper_sessions
WHERE tenant_id = $1 AND customer_id = $2 AND token_hash IS DISTINCT FROM $3
"""

DELETE_SPENT_OTPS = """
DELETE FROM customer.shopper_otps
WHERE tenant_id = $1 AND customer_id = $2 AND (expires_at <= $3 OR used_at IS NOT NULL)
"""
INSERT_OTP = """
INSERT INTO customer.shopper_otps (tenant_id, token_hash, customer_id, code_hash, expires_at)
VALUES ($1, $2, $3, $4, $5)
"""
SELECT_OTP_FOR_UPDATE = """
SELECT customer_id, code_hash, attempts, expires_at, used_at FROM customer.shopper_otps
WHERE tenant_id = $1 AND token_hash = $2
FOR UPDATE
"""
COUNT_OTP_ATTEMPT = """
UPDATE customer.shopper_otps SET attempts = attempts + 1 WHERE tenant_id = $1 AND token_hash = $2
"""
USE_OTP = """
UPDATE customer.shopper_otps SET used_at = $3, attempts = attempts + 1
WHERE tenant_id = $1 AND token_hash = $2
"""

# The data-subject export (API.md §9): what the suite holds about a shopper account, never a
# hash. Sessions and codes still stored (expired ones too, until they are swept), oldest first.
SELECT_ACCOUNT = """
SELECT c.email, cr.created_at, cr.updated_at
FROM customer.shopper_credentials AS cr
JOIN customer.customers AS c ON c.tenant_id = cr.tenant_id AND c.id = cr.customer_id
WHERE cr.tenant_id = $1 AND cr.customer_id = $2
"""
SELECT_SESSIONS_OF = """
SELECT issued_at, expires_at FROM customer.shopper_sessions
WHERE tenant_id = $1 AND customer_id = $2
ORDER BY issued_at, expires_at
"""
SELECT_OTPS_OF = """
SELECT expires_at, used_at, attempts FROM customer.shopper_otps
WHERE tenant_id = $1 AND customer_id = $2
ORDER BY expires_at
"""


async def login_by_email(
    conn: asyncpg.Connection, tenant: str, email: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_LOGIN_BY_EMAIL, tenant, email)


async def login_by_mobile(
    conn: asyncpg.Connection, tenant: str, mobile: str
) -> asyncpg.Record | None:
    rows = await conn.fetch(SELECT_LOGIN_BY_MOBILE, tenant, mobile)
    return rows[0] if len(rows) == 1 else None


async def login_by_id(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_LOGIN_BY_ID, tenant, customer_id)


async def lock_password_hash(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID, *, for_update: bool = False
) -> str | None:
    """The current password hash, locked (shared by logins, exclusive for a change)."""
    query = SELECT_PASSWORD_FOR_UPDATE if for_update else LOCK_CREDENTIALS
    return await conn.fetchval(query, tenant, customer_id)


async def set_password(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID, password_hash: str, now: datetime
) -> None:
    """Create or replace the customer's credentials."""
    await conn.execute(INSERT_CREDENTIALS, tenant, customer_id, password_hash, now)


async def update_password(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID, password_hash: str, now: datetime
) -> None:
    await conn.execute(UPDATE_PASSWORD, tenant, customer_id, password_hash, now)


async def insert_session(
    conn: asyncpg.Connection,
    tenant: str,
    token_hash: bytes,
    customer_id: uuid.UUID,
    issued_at: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(DELETE_EXPIRED_SESSIONS, tenant, customer_id, issued_at)
    await conn.execute(INSERT_SESSION, tenant, token_hash, customer_id, issued_at, expires_at)


async def fetch_session(
    conn: asyncpg.Connection, tenant: str, token_hash: bytes, now: datetime
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_SESSION, tenant, token_hash, now)


async def fetch_session_customer(
    conn: asyncpg.Connection, tenant: str, token_hash: bytes, now: datetime
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_SESSION_CUSTOMER, tenant, token_hash, now)


async def delete_session(conn: asyncpg.Connection, tenant: str, token_hash: bytes) -> None:
    await conn.execute(DELETE_SESSION, tenant, token_hash)


async def delete_sessions(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID, *, keep: bytes | None = None
) -> None:
    await conn.execute(DELETE_SESSIONS, tenant, customer_id, keep)


async def insert_otp(
    conn: asyncpg.Connection,
    tenant: str,
    token_hash: bytes,
    customer_id: uuid.UUID,
    code_hash: bytes,
    now: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(DELETE_SPENT_OTPS, tenant, customer_id, now)
    await conn.execute(INSERT_OTP, tenant, token_hash, customer_id, code_hash, expires_at)


async def lock_otp(
    conn: asyncpg.Connection, tenant: str, token_hash: bytes
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_OTP_FOR_UPDATE, tenant, token_hash)


async def count_otp_attempt(conn: asyncpg.Connection, tenant: str, token_hash: bytes) -> None:
    await conn.execute(COUNT_OTP_ATTEMPT, tenant, token_hash)


async def use_otp(conn: asyncpg.Connection, tenant: str, token_hash: bytes, now: datetime) -> None:
    await conn.execute(USE_OTP, tenant, token_hash, now)


async def account_of(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID
) -> tuple[asyncpg.Record | None, list[asyncpg.Record], list[asyncpg.Record]]:
    """(credentials metadata or None, sessions, one-time codes) of the customer; no hash."""
    account = await conn.fetchrow(SELECT_ACCOUNT, tenant, customer_id)
    if account is None:
        return None, [], []
    sessions = await conn.fetch(SELECT_SESSIONS_OF, tenant, customer_id)
    otps = await conn.fetch(SELECT_OTPS_OF, tenant, customer_id)
    return account, sessions, otps
