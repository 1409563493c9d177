"""Operator use cases behind the CLI: tenants, clients, secrets, key rotation.

Each takes one connection and runs in one transaction; secrets are returned once and stored
only hashed.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from auth_service import repository
from auth_service.client_secrets import generate_secret, hash_secret_async
from auth_service.errors import NoSuchClient, NoSuchTenant
from auth_service.repository import Client
from shared.authz import DEFAULT_SCOPES
from shared.errors import InvalidInput
from shared.identifiers import is_tenant_id

# A collision of 64 random bits is not expected; drawing again is cheaper than reasoning about it.
_CLIENT_ID_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class NewCredentials:
    tenant: str
    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"NewCredentials(tenant={self.tenant!r}, client_id={self.client_id!r})"


def new_client_id(tenant: str) -> str:
    return f"{tenant}-{secrets.token_hex(8)}"


def check_tenant_id(tenant: str) -> None:
    if not is_tenant_id(tenant):
        raise InvalidInput(f"Invalid tenant id {tenant!r}: it must match ^[A-Za-z0-9_-]{{1,64}}$.")


async def _insert_client(
    conn: asyncpg.Connection, tenant: str, scopes: Sequence[str]
) -> NewCredentials:
    secret = generate_secret()
    secret_hash = await hash_secret_async(secret)
    for _ in range(_CLIENT_ID_ATTEMPTS):
        client = await repository.insert_client(
            conn, tenant, new_client_id(tenant), secret_hash, scopes
        )
        if client is not None:
            return NewCredentials(tenant, client.client_id, secret)
    raise RuntimeError("could not draw a free client id")


async def create_tenant_with_client(
    conn: asyncpg.Connection, tenant: str, scopes: Sequence[str] = DEFAULT_SCOPES
) -> NewCredentials:
    """Create the tenant if it does not exist, and a new client with `scopes`."""
    check_tenant_id(tenant)
    async with conn.transaction():
        await repository.insert_tenant(conn, tenant)
        return await _insert_client(conn, tenant, scopes)


async def create_client(
    conn: asyncpg.Connection, tenant: str, scopes: Sequence[str] = DEFAULT_SCOPES
) -> NewCredentials:
    """A new client of an existing tenant."""
    check_tenant_id(tenant)
    async with conn.transaction():
        if not await repository.tenant_exists(conn, tenant):
            raise NoSuchTenant(f"No tenant {tenant!r}.")
        return await _insert_client(conn, tenant, scopes)


async def list_clients(conn: asyncpg.Connection, tenant: str) -> list[Client]:
    check_tenant_id(tenant)
    if not await repository.tenant_exists(conn, tenant):
        raise NoSuchTenant(f"No tenant {tenant!r}.")
    return await repository.fetch_clients(conn, tenant)


async def revoke_client(conn: asyncpg.Connection, tenant: str, client_id: str) -> Client:
    """Revoke a client: it can no longer get tokens, and introspection calls the tokens it already
    has inactive. The CLI also announces it on the revocation list, so verifiers refuse them."""
    check_tenant_id(tenant)
    client = await repository.revoke_client(conn, tenant, client_id)
    if client is None:
        raise NoSuchClient(f"No client {client_id!r} in tenant {tenant!r}.")
    return client


async def rotate_secret(conn: asyncpg.Connection, tenant: str, client_id: str) -> NewCredentials:
    """A new secret for an active client; the old one stops working at once."""
    check_tenant_id(tenant)
    secret = generate_secret()
    client = await repository.update_client_secret(
        conn, tenant, client_id, await hash_secret_async(secret)
    )
    if client is None:
        raise NoSuchClient(f"No active client {client_id!r} in tenant {tenant!r}.")
    return NewCredentials(tenant, client.client_id, secret)
