"""Test-wide fixtures: the suite's own test database, Redis db and RabbitMQ vhost.

Tests never touch what `make run` uses: the database `customer_suite_test` (dropped and made anew
for each session, dropped at the end), Redis database 15 and the RabbitMQ vhost
`customer_suite_test`. Each test works in tenants of its own (`unique_tenant`), so tests need no
global cleanup between them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest

from shared.migrations import migrate_all
from shared.settings import Settings, load_settings

# Several test runs can share one machine (parallel developers): CS_TEST_SLOT=N (0-7) gives a run
# its own databases, vhost, Redis db and e2e ports.
TEST_SLOT = int(os.environ.get("CS_TEST_SLOT", "0"))
_SUFFIX = f"_s{TEST_SLOT}" if TEST_SLOT else ""
TEST_DATABASE_NAME = f"customer_suite_test{_SUFFIX}"
TEST_WISHLIST_DATABASE_NAME = f"customer_suite_test{_SUFFIX}_wishlist"
TEST_VHOST = f"customer_suite_test{_SUFFIX}"
E2E_PORT_BASE = 18080 + 10 * TEST_SLOT


# The marker each test directory's tests carry (`pytest -m "not e2e"` and the like): applied
# here by path, never per file. Unit and deploy tests carry none.
TESTS_ROOT = Path(__file__).resolve().parent
MARKER_BY_DIRECTORY = {
    "integration": "integration",
    "e2e": "e2e",
    "replicas": "e2e",
    "image": "e2e",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        relative = item.path.resolve().relative_to(TESTS_ROOT)
        marker = MARKER_BY_DIRECTORY.get(relative.parts[0])
        if marker is not None:
            item.add_marker(marker)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _test_settings() -> Settings:
    base = load_settings(env_file=None)
    return dataclasses.replace(
        base,
        database_url=os.environ.get(
            "TEST_DATABASE_URL", _with_database(base.database_url, TEST_DATABASE_NAME)
        ),
        # A separate wishlist database proves the worker honours WISHLIST_DATABASE_URL.
        wishlist_database_url=os.environ.get(
            "TEST_WISHLIST_DATABASE_URL",
            _with_database(base.database_url, TEST_WISHLIST_DATABASE_NAME),
        ),
        redis_url=os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - TEST_SLOT}"),
        amqp_url=os.environ.get("TEST_AMQP_URL", f"amqp://guest:guest@127.0.0.1:5672/{TEST_VHOST}"),
        pseudonym_key="test-pseudonym-key",
    )


async def _recreate_databases(settings: Settings) -> None:
    await _drop_databases(settings)
    await migrate_all(settings.database_url, settings.wishlist_database_url)


async def _drop_databases(settings: Settings) -> None:
    admin = await asyncpg.connect(_with_database(settings.database_url, "postgres"))
    try:
        for url in {settings.database_url, settings.wishlist_database_url}:
            name = urlsplit(url).path.lstrip("/")
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def test_settings() -> Iterator[Settings]:
    """Settings pointing at the test database (fresh and migrated), Redis db and vhost."""
    settings = _test_settings()
    asyncio.run(_recreate_databases(settings))
    yield settings
    asyncio.run(_drop_databases(settings))


@pytest.fixture
def unique_tenant() -> str:
    """A tenant id no other test uses."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client session (for suites running as processes: e2e, replicas)."""
    async with aiohttp.ClientSession() as session:
        yield session
