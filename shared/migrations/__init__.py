"""A small SQL-file migration runner: numbered files, applied once each, under an advisory lock.

Two sets: `main` (auth, customers, outbox, imports) in DATABASE_URL and `wishlist` in
WISHLIST_DATABASE_URL (the wishlist service's store, created here if absent).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent
# Any constant works; it only has to be the same for every runner of this suite.
_LOCK_KEY = 7_319_203_311


@dataclass(frozen=True, slots=True)
class Migration:
    set_name: str
    version: str
    sql: str


def discover(set_name: str) -> list[Migration]:
    """The migration files of one set, in version order."""
    folder = MIGRATIONS_DIR / set_name
    return [
        Migration(set_name, path.stem, path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.sql"))
    ]


async def ensure_database(dsn: str) -> bool:
    """Create the database named in `dsn` if it does not exist. Returns True if it was created."""
    name = unquote(urlsplit(dsn).path.lstrip("/"))
    if not name:
        raise ValueError("The database URL names no database.")
    admin = await asyncpg.connect(dsn, database="postgres")
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            quoted = name.replace('"', '""')
            await admin.execute(f'CREATE DATABASE "{quoted}"')
        except asyncpg.DuplicateDatabaseError:
            return False  # another runner created it first
        return True
    finally:
        await admin.close()


async def apply(dsn: str, set_name: str) -> list[str]:
    """Apply the pending migrations of `set_name`; returns the versions applied now."""
    conn = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(
                """
                CREATE TABLE IF NOT EXISTS public.schema_migrations (
                    set_name text NOT NULL,
                    version text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (set_name, version)
                )
                """
            )
            done = {
                row["version"]
                for row in await conn.fetch(
                    "SELECT version FROM public.schema_migrations WHERE set_name = $1", set_name
                )
            }
            for migration in discover(set_name):
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO public.schema_migrations (set_name, version) VALUES ($1, $2)",
                        set_name,
                        migration.version,
                    )
                applied_now.append(migration.version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
    return applied_now


async def set_login_password(database_url: str, login_url: str) -> bool:
    """Give the role named in `login_url` the password in it (the app login of 0008, whose
    password lives in APP_DATABASE_URL only). Returns False when the URL holds no password."""
    parts = urlsplit(login_url)
    if not parts.username or parts.password is None:
        return False
    conn = await asyncpg.connect(database_url)
    try:
        statement = await conn.fetchval(
            "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)",
            unquote(parts.username),
            unquote(parts.password),
        )
        await conn.execute(statement)
    finally:
        await conn.close()
    return True


async def migrate_all(database_url: str, wishlist_database_url: str) -> dict[str, list[str]]:
    """Create the databases if missing and bring both migration sets up to date."""
    await ensure_database(database_url)
    if wishlist_database_url != database_url:
        await ensure_database(wishlist_database_url)
    return {
        "main": await apply(database_url, "main"),
        "wishlist": await apply(wishlist_database_url, "wishlist"),
    }
