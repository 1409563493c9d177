"""The suite against a RabbitMQ node of the tests' own (tests/support/private_rabbitmq.py), which
the tests kill and restart; the shared broker other runs use is never touched."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import aiohttp
import asyncpg
import pytest

from deploy.local.suite import Suite
from shared.settings import Settings
from tests.conftest import E2E_PORT_BASE
from tests.e2e.conftest import Client, RunningSuite, obtain_client, suite_env
from tests.support.private_rabbitmq import PrivateBroker, private_broker

# The slot's e2e ports moved up by 10000, +5…+9 (tests/replicas uses +0…+4 and +100 * i).
_BASE = E2E_PORT_BASE + 10005
PORTS = {
    "GATEWAY_PORT": _BASE,
    "CUSTOMER_SERVICE_PORT": _BASE + 1,
    "AUTH_SERVICE_PORT": _BASE + 2,
    "IMPEX_WORKER_PORT": _BASE + 3,
    "GATEWAY_ADMIN_PORT": _BASE + 4,
}


@pytest.fixture(scope="package")
def broker() -> Iterator[PrivateBroker]:
    with private_broker() as node:
        yield node


@pytest.fixture(scope="package")
def broker_suite(
    test_settings: Settings, broker: PrivateBroker, tmp_path_factory
) -> Iterator[RunningSuite]:
    """One process of every service, publishing to and consuming from the private broker."""
    env = {
        **suite_env(test_settings),
        **{name: str(port) for name, port in PORTS.items()},
        "AMQP_URL": broker.url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{PORTS['GATEWAY_PORT']}",
    }
    suite = Suite(env=env, log_dir=tmp_path_factory.mktemp("chaos-suite-logs"))
    try:
        suite.start()
        suite.wait_ready(timeout=120)
        yield RunningSuite(env["PUBLIC_BASE_URL"], env, suite)
    finally:
        suite.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def client(broker_suite: RunningSuite, http, unique_tenant) -> Client:
    return await obtain_client(broker_suite, http, unique_tenant)


async def connect(dsn: str) -> asyncpg.Connection:
    """A plain connection that reads jsonb as Python values."""
    conn = await asyncpg.connect(dsn)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    return conn
