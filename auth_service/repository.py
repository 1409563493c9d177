"""All of auth_service's SQL (schema `auth`), one named statement per use, plain objects out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

# Serialises "is there a current signing key? if not, make one" and rotations across replicas
# and the CLI. Any constant works; it only has to differ from the migration runner's.
SIGNING_KEYS_LOCK = 7_319_203_312


@dataclass(frozen=True, slots=True)
class Client:
    tenant: str
    client_id: str
    secret_hash: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def __repr__(self) -> str:  # the hash is not a secret, but it has no business in logs
        return f"Client(tenant={self.tenant!r}, client_id={self.client_id!r})"


@dataclass(frozen=True, slots=True)
class StoredKey:
    kid: str
    private_key_pem: str
    public_jwk: dict[str, Any]
    created_at: datetime
    retired_at: datetime | None
    revoked_at: datetime | None = None

    def __repr__(self) -> str:
        return f"StoredKey(kid={self.kid!r}, retired_at={self.retired_at!r})"


@dataclass(frozen=True, slots=True)
class KeyState:
    """A signing key as operators see it (no key material)."""

    kid: str
    created_at: datetime
    retired_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class RevokedToken:
    jti: str
    expires_at: float  # epoch seconds: the token's exp
    keep_until: float


@dataclass(frozen=True, slots=True)
class RevokedClient:
    tenant: str
    client_id: str
    revoked_at: float  # epoch seconds


_CLIENT_COLUMNS = "tenant_id, client_id, secret_hash, scopes, created_at, revoked_at"
_KEY_COLUMNS = "kid, private_key_pem, public_jwk, created_at, retired_at, revoked_at"

INSERT_TENANT = "INSERT INTO auth.tenants (id) VALUES ($1) ON CONFLICT (id) DO NOTHING"
TENANT_EXISTS = "SELECT EXISTS (SELECT 1 FROM auth.tenants WHERE id = $1)"

INSERT_CLIENT = f"""
INSERT INTO auth.clients (tenant_id, client_id, secret_hash, scopes)
VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, client_id) DO NOTHING
RETURNING {_CLIENT_COLUMNS}
"""
SELECT_CLIENT = (
    f"SELECT {_CLIENT_COLUMNS} FROM auth.clients WHERE tenant_id = $1 AND client_id = $2"
)
SELECT_CLIENTS = f"""
SELECT {_CLIENT_COLUMNS} FROM auth.clients WHERE tenant_id = $1 ORDER BY created_at, client_id
"""
REVOKE_CLIENT = f"""
UPDATE auth.clients SET revoked_at = coalesce(revoked_at, now())
WHERE tenant_id = $1 AND client_id = $2
RETURNING {_CLIENT_COLUMNS}
"""
UPDATE_CLIENT_SECRET = f"""
UPDATE auth.clients SET secret_hash = $3
WHERE tenant_id = $1 AND client_id = $2 AND revoked_at IS NULL
RETURNING {_CLIENT_COLUMNS}
"""

LOCK_SIGNING_KEYS = "SELECT pg_advisory_xact_lock($1)"
# The current key is the newest one not retired.
SELECT_CURRENT_KID = """
SELECT kid FROM auth.signing_keys WHERE retired_at IS NULL AND revoked_at IS NULL
ORDER BY created_at DESC, kid DESC LIMIT 1
"""
# Keys still worth publishing: active ones, and retired ones some token may still carry; never
# a revoked one.
_PUBLISHED = """
revoked_at IS NULL AND (retired_at IS NULL OR retired_at > now() - make_interval(secs => $1))
"""
SELECT_PUBLISHED_KEYS = f"""
SELECT {_KEY_COLUMNS} FROM auth.signing_keys WHERE {_PUBLISHED}
ORDER BY created_at DESC, kid DESC
"""
SELECT_PUBLISHED_KIDS = f"""
SELECT kid, retired_at IS NULL AS active FROM auth.signing_keys WHERE {_PUBLISHED}
ORDER BY created_at DESC, kid DESC
"""
SELECT_KEY_STATES = """
SELECT kid, created_at, retired_at, revoked_at FROM auth.signing_keys
ORDER BY created_at DESC, kid DESC
"""
RETIRE_SIGNING_KEY = """
UPDATE auth.signing_keys SET retired_at = coalesce(retired_at, now()) WHERE kid = $1
RETURNING kid
"""
REVOKE_SIGNING_KEY = """
UPDATE auth.signing_keys
SET retired_at = coalesce(retired_at, now()), revoked_at = coalesce(revoked_at, now())
WHERE kid = $1
RETURNING kid
"""

INSERT_REVOKED_TOKEN = """
INSERT INTO auth.revoked_tokens (tenant_id, jti, client_id, expires_at, keep_until)
VALUES ($1, $2, $3, to_timestamp($4), to_timestamp($5))
ON CONFLICT (tenant_id, jti) DO NOTHING
"""
REVOKED_TOKEN_EXISTS = """
SELECT EXISTS (
    SELECT 1 FROM auth.revoked_tokens WHERE tenant_id = $1 AND jti = $2 AND keep_until > now()
)
"""
SELECT_LIVE_REVOKED_TOKENS = """
SELECT jti, extract(epoch FROM expires_at) AS expires_at,
       extract(epoch FROM keep_until) AS keep_until
FROM auth.revoked_tokens WHERE keep_until > now()
"""
DELETE_DEAD_REVOKED_TOKENS = "DELETE FROM auth.revoked_tokens WHERE keep_until <= now()"
# Clients revoked recently enough that a token issued before may still be alive.
SELECT_RECENTLY_REVOKED_CLIENTS = """
SELECT tenant_id, client_id, extract(epoch FROM revoked_at) AS revoked_at FROM auth.clients
WHERE revoked_at > now() - make_interval(secs => $1)
"""
INSERT_SIGNING_KEY = f"""
INSERT INTO auth.signing_keys (kid, private_key_pem, public_jwk) VALUES ($1, $2, $3)
RETURNING {_KEY_COLUMNS}
"""
RETIRE_SIGNING_KEYS = """
UPDATE auth.signing_keys SET retired_at = now() WHERE retired_at IS NULL RETURNING kid
"""


def _client(record: asyncpg.Record) -> Client:
    return Client(
        tenant=record["tenant_id"],
        client_id=record["client_id"],
        secret_hash=record["secret_hash"],
        scopes=tuple(record["scopes"]),
        created_at=record["created_at"],
        revoked_at=record["revoked_at"],
    )


def _key(record: asyncpg.Record) -> StoredKey:
    return StoredKey(
        kid=record["kid"],
        private_key_pem=record["private_key_pem"],
        public_jwk=dict(record["public_jwk"]),
        created_at=record["created_at"],
        retired_at=record["retired_at"],
        revoked_at=record["revoked_at"],
    )


async def insert_tenant(conn: asyncpg.Connection, tenant: str) -> bool:
    """Create the tenant; False if it existed already."""
    return await conn.execute(INSERT_TENANT, tenant) == "INSERT 0 1"


async def tenant_exists(conn: asyncpg.Connection, tenant: str) -> bool:
    return await conn.fetchval(TENANT_EXISTS, tenant)


async def insert_client(
    conn: asyncpg.Connection,
    tenant: str,
    client_id: str,
    secret_hash: str,
    scopes: Sequence[str],
) -> Client | None:
    """The new client, or None if that id is taken (the caller draws another)."""
    record = await conn.fetchrow(INSERT_CLIENT, tenant, client_id, secret_hash, list(scopes))
    return _client(record) if record is not None else None


async def fetch_client(conn: asyncpg.Connection, tenant: str, client_id: str) -> Client | None:
    record = await conn.fetchrow(SELECT_CLIENT, tenant, client_id)
    return _client(record) if record is not None else None


async def fetch_clients(conn: asyncpg.Connection, tenant: str) -> list[Client]:
    return [_client(record) for record in await conn.fetch(SELECT_CLIENTS, tenant)]


async def revoke_client(conn: asyncpg.Connection, tenant: str, client_id: str) -> Client | None:
    """Mark the client revoked (idempotent: a second revoke keeps the first date)."""
    record = await conn.fetchrow(REVOKE_CLIENT, tenant, client_id)
    return _client(record) if record is not None else None


async def update_client_secret(
    conn: asyncpg.Connection, tenant: str, client_id: str, secret_hash: str
) -> Client | None:
    """Replace an active client's secret hash; None if no such active client."""
    record = await conn.fetchrow(UPDATE_CLIENT_SECRET, tenant, client_id, secret_hash)
    return _client(record) if record is not None else None


async def lock_signing_keys(conn: asyncpg.Connection) -> None:
    """Hold the signing-key lock until the surrounding transaction ends."""
    await conn.execute(LOCK_SIGNING_KEYS, SIGNING_KEYS_LOCK)


async def fetch_current_kid(conn: asyncpg.Connection) -> str | None:
    return await conn.fetchval(SELECT_CURRENT_KID)


async def fetch_published_keys(
    conn: asyncpg.Connection, retired_grace_seconds: float
) -> list[StoredKey]:
    """Active keys and keys retired less than `retired_grace_seconds` ago, newest first."""
    return [
        _key(record) for record in await conn.fetch(SELECT_PUBLISHED_KEYS, retired_grace_seconds)
    ]


async def insert_signing_key(
    conn: asyncpg.Connection, kid: str, private_key_pem: str, public_jwk: dict[str, Any]
) -> StoredKey:
    return _key(await conn.fetchrow(INSERT_SIGNING_KEY, kid, private_key_pem, public_jwk))


async def retire_signing_keys(conn: asyncpg.Connection) -> list[str]:
    """Retire every active key; returns their kids."""
    return [record["kid"] for record in await conn.fetch(RETIRE_SIGNING_KEYS)]


async def fetch_published_kids(
    conn: asyncpg.Connection, retired_grace_seconds: float
) -> tuple[str | None, set[str]]:
    """(the current kid, every published kid), in one small query."""
    records = await conn.fetch(SELECT_PUBLISHED_KIDS, retired_grace_seconds)
    current = next((record["kid"] for record in records if record["active"]), None)
    return current, {record["kid"] for record in records}


async def fetch_key_states(conn: asyncpg.Connection) -> list[KeyState]:
    return [KeyState(**dict(record)) for record in await conn.fetch(SELECT_KEY_STATES)]


async def retire_signing_key(conn: asyncpg.Connection, kid: str) -> bool:
    """Retire one key (idempotent); False if there is no such key."""
    return await conn.fetchval(RETIRE_SIGNING_KEY, kid) is not None


async def revoke_signing_key(conn: asyncpg.Connection, kid: str) -> bool:
    """Revoke one key (idempotent): unpublished at once; False if there is no such key."""
    return await conn.fetchval(REVOKE_SIGNING_KEY, kid) is not None


async def insert_revoked_token(
    conn: asyncpg.Connection,
    tenant: str,
    jti: str,
    client_id: str,
    *,
    expires_at: float,
    keep_until: float,
) -> None:
    await conn.execute(INSERT_REVOKED_TOKEN, tenant, jti, client_id, expires_at, keep_until)


async def revoked_token_exists(conn: asyncpg.Connection, tenant: str, jti: str) -> bool:
    return await conn.fetchval(REVOKED_TOKEN_EXISTS, tenant, jti)


async def fetch_live_revoked_tokens(conn: asyncpg.Connection) -> list[RevokedToken]:
    return [
        RevokedToken(record["jti"], float(record["expires_at"]), float(record["keep_until"]))
        for record in await conn.fetch(SELECT_LIVE_REVOKED_TOKENS)
    ]


async def fetch_recently_revoked_clients(
    conn: asyncpg.Connection, within_seconds: float
) -> list[RevokedClient]:
    return [
        RevokedClient(record["tenant_id"], record["client_id"], float(record["revoked_at"]))
        for record in await conn.fetch(SELECT_RECENTLY_REVOKED_CLIENTS, within_seconds)
    ]


async def delete_dead_revoked_tokens(conn: asyncpg.Connection) -> int:
    """Forget revoked tokens every verifier refuses anyway (expired); returns how many."""
    return int((await conn.execute(DELETE_DEAD_REVOKED_TOKENS)).split()[-1])
