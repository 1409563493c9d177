"""`make run REPLICAS=2` as the tests see it: two processes of every service behind HAProxy, on
ports of the test slot's own (beside the e2e suite's), against the slot's stores."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator, Iterator

import aiohttp
import asyncpg
import pytest

from deploy.local.replicas import ReplicatedSuite, replica_port
from deploy.local.suite import service_port
from shared.amqp import CUSTOMER_CREATED
from shared.settings import Settings
from tests.conftest import E2E_PORT_BASE
from tests.e2e.conftest import RunningSuite, obtain_client, suite_env
from tests.support.imports import events_of

REPLICAS = 2
# The balanced addresses: the slot's e2e ports moved up by 10000 (those ten are all taken by
# e2e suites); replica i of each adds 100 * i (deploy/local/replicas.py).
_BASE = E2E_PORT_BASE + 10000
PORTS = {
    "GATEWAY_PORT": _BASE,
    "CUSTOMER_SERVICE_PORT": _BASE + 1,
    "AUTH_SERVICE_PORT": _BASE + 2,
    "IMPEX_WORKER_PORT": _BASE + 3,
    "GATEWAY_ADMIN_PORT": _BASE + 4,
}


def replica_url(running: RunningSuite, service: str, replica: int) -> str:
    """The address of one replica of a service (its own port, not the balancer's)."""
    return f"http://127.0.0.1:{replica_port(service_port(running.env, service), replica)}"


@pytest.fixture(scope="package")
def replicated(test_settings: Settings, tmp_path_factory) -> Iterator[RunningSuite]:
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed: `make test` installs it (deploy/local/bootstrap.sh)")
    env = {
        **suite_env(test_settings),
        **{name: str(port) for name, port in PORTS.items()},
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{PORTS['GATEWAY_PORT']}",
    }
    suite = ReplicatedSuite(
        env=env, log_dir=tmp_path_factory.mktemp("replica-logs"), replicas=REPLICAS
    )
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
async def tenant_headers(replicated: RunningSuite, http, unique_tenant) -> dict[str, str]:
    return (await obtain_client(replicated, http, unique_tenant)).headers


async def metric_total(http: aiohttp.ClientSession, url: str, name: str, **labels: str) -> float:
    """The sum of a counter's samples matching `labels` on one process's /metrics."""
    async with http.get(f"{url}/metrics") as response:
        text = await response.text()
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


async def connect(dsn: str) -> asyncpg.Connection:
    """A plain connection that reads jsonb as Python values."""
    conn = await asyncpg.connect(dsn)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    return conn


async def created_ids(conn: asyncpg.Connection, tenant: str) -> list[str]:
    """Every customer id announced as created: per row (customer.created) or per import chunk
    (customer.imported), whichever this version emits."""
    created = [e["customer"]["id"] for e in await events_of(conn, tenant, CUSTOMER_CREATED)]
    for event in await events_of(conn, tenant, "customer.imported"):
        created += [entry["id"] for entry in event["created"]]
    return created
