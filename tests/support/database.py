"""A plain connection to a test database, for what a test reads beside the suite under test."""

from __future__ import annotations

import json

import asyncpg


async def connect(dsn: str) -> asyncpg.Connection:
    """A plain connection that reads jsonb as Python values."""
    conn = await asyncpg.connect(dsn)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    return conn
