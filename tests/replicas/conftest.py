"""`make run REPLICAS=2` as the tests see it: two processes of every service behind HAProxy, on
ports of the test slot's own (beside the e2e suite's), against the slot's stores."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import asyncpg
import pytest

from deploy.local.replicas import ReplicatedSuite, replica_port
from deploy.local.suite import service_port
from shared.amqp import CUSTOMER_CREATED
from shared.settings import Settings
from tests.conftest import E2E_PORT_BASE
from tests.e2e.conftest import RunningSuite, obtain_client, started, suite_env
from tests.support.imports import events_of

REPLICAS = 2
# The balanced addresses: the slot's e2e ports moved up by 10000 (those ten are all taken by
# e2e suites); replica i of each adds 100 * i (deploy/local/replicas.py).
GATEWAY_PORT = E2E_PORT_BASE + 10000


def replica_url(running: RunningSuite, service: str, replica: int) -> str:
    """The address of one replica of a service (its own port, not the balancer's)."""
    return f"http://127.0.0.1:{replica_port(service_port(running.env, service), replica)}"


@pytest.fixture(scope="package")
def replicated(test_settings: Settings, tmp_path_factory) -> Iterator[RunningSuite]:
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed: `make test` installs it (deploy/local/bootstrap.sh)")
    env = suite_env(test_settings, gateway_port=GATEWAY_PORT)
    log_dir = tmp_path_factory.mktemp("replica-logs")
    with started(ReplicatedSuite(env=env, log_dir=log_dir, replicas=REPLICAS)) as running:
        yield running


@pytest.fixture
async def tenant_headers(replicated: RunningSuite, http, unique_tenant) -> dict[str, str]:
    return (await obtain_client(replicated, http, unique_tenant)).headers


async def created_ids(conn: asyncpg.Connection, tenant: str) -> list[str]:
    """Every customer id announced as created: per row (customer.created) or per import chunk
    (customer.imported), whichever this version emits."""
    created = [e["customer"]["id"] for e in await events_of(conn, tenant, CUSTOMER_CREATED)]
    for event in await events_of(conn, tenant, "customer.imported"):
        created += [entry["id"] for entry in event["created"]]
    return created
