"""A customer's shopper account (API.md §10) as the data-subject export shows it (§9): the login
name, when the password was set and changed, the sessions and one-time codes the suite still
holds, with their times. Never a password hash, a session token or a code (nor their hashes).
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from customer_service.shoppers import repository
from shared.timefmt import iso_ms


async def account_metadata(
    conn: asyncpg.Connection, tenant: str, customer_id: uuid.UUID
) -> dict[str, Any] | None:
    """None while the customer has no login (no password was ever set for them)."""
    account, sessions, otps = await repository.account_of(conn, tenant, customer_id)
    if account is None:
        return None
    return {
        "username": account["email"],
        "createdAt": iso_ms(account["created_at"]),
        "passwordChangedAt": iso_ms(account["updated_at"]),
        "sessions": [
            {"issuedAt": iso_ms(row["issued_at"]), "expiresAt": iso_ms(row["expires_at"])}
            for row in sessions
        ],
        "oneTimeCodes": [
            {
                "expiresAt": iso_ms(row["expires_at"]),
                "usedAt": iso_ms(row["used_at"]) if row["used_at"] is not None else None,
                "attempts": row["attempts"],
            }
            for row in otps
        ],
    }
