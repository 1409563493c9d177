"""The suite against a RabbitMQ node of the tests' own (tests/support/private_rabbitmq.py), which
the tests kill and restart; the shared broker other runs use is never touched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.local.suite import Suite
from shared.settings import Settings
from tests.conftest import E2E_PORT_BASE
from tests.e2e.conftest import Client, RunningSuite, obtain_client, started, suite_env
from tests.support.private_rabbitmq import PrivateBroker, private_broker

# The slot's e2e ports moved up by 10000, +5…+9 (tests/replicas uses +0…+4 and +100 * i).
GATEWAY_PORT = E2E_PORT_BASE + 10005


@pytest.fixture(scope="package")
def broker() -> Iterator[PrivateBroker]:
    with private_broker() as node:
        yield node


@pytest.fixture(scope="package")
def broker_suite(
    test_settings: Settings, broker: PrivateBroker, tmp_path_factory
) -> Iterator[RunningSuite]:
    """One process of every service, publishing to and consuming from the private broker."""
    env = {**suite_env(test_settings, gateway_port=GATEWAY_PORT), "AMQP_URL": broker.url}
    with started(Suite(env=env, log_dir=tmp_path_factory.mktemp("chaos-suite-logs"))) as running:
        yield running


@pytest.fixture
async def client(broker_suite: RunningSuite, http, unique_tenant) -> Client:
    return await obtain_client(broker_suite, http, unique_tenant)
