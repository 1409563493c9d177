"""The whole suite as child processes on test ports, spoken to over HTTP like a client."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from deploy.local.replicas import ReplicatedSuite
from deploy.local.suite import Suite, admin_port, service_port
from shared.settings import Settings
from tests.conftest import E2E_PORT_BASE

ROOT = Path(__file__).resolve().parents[2]
# E2E_REPLICAS=2: the same tests against two processes of every service behind HAProxy
# (`make run REPLICAS=2`'s topology, deploy/local/replicas.py), on the slot's ports moved up by
# 10000: replica i listens at +100 * i, and the plain ports' +100 and +200 are the benchmarks'
# (18200-18204) and the image test's (18300-18304). tests/replicas uses the same base, never at
# the same time (each package stops its suite before the next starts).
REPLICAS = int(os.environ.get("E2E_REPLICAS") or 1)
GATEWAY_PORT = E2E_PORT_BASE + (10000 if REPLICAS >= 2 else 0)
# Seconds an upload may stay silent: low, so a test of a stalled upload ends soon.
UPLOAD_READ_TIMEOUT = 5
# +5 is the second suite's (test_security_hardening.py, +6…+9) gateway admin port.
GATEWAY_ADMIN_PORT = GATEWAY_PORT + 4


@dataclass(frozen=True)
class RunningSuite:
    base_url: str
    env: dict[str, str]
    suite: Suite | ReplicatedSuite

    def process_envs(self) -> list[dict[str, str]]:
        """Each process's own environment: one, or one per replica (its own ports)."""
        if isinstance(self.suite, ReplicatedSuite):
            return [suite.env for suite in self.suite.suites]
        return [self.env]

    def admin_urls(self, service: str) -> list[str]:
        """Where each process of `service` serves /metrics and the detailed /readyz (the
        gateway's admin port, the others' own port): one URL per replica."""
        return [f"http://127.0.0.1:{admin_port(env, service)}" for env in self.process_envs()]

    def own_urls(self, service: str) -> list[str]:
        """Each process's own port (not the balancer's)."""
        return [f"http://127.0.0.1:{service_port(env, service)}" for env in self.process_envs()]

    def provision(self, tenant: str, *, scopes: str | None = None) -> dict[str, str]:
        """`python -m auth_service tenants create [--scopes …]`, as an operator runs it."""
        options = ["--scopes", scopes] if scopes else []
        created = self.suite.run_module("auth_service", "tenants", "create", tenant, *options)
        return json.loads(created.stdout)


def suite_env(
    settings: Settings, *, gateway_port: int = GATEWAY_PORT, admin_port: int | None = None
) -> dict[str, str]:
    """A suite's environment: the test stores, the gateway at `gateway_port` and the services
    on the four ports after it (the gateway's admin port the last, unless `admin_port`)."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "WISHLIST_DATABASE_URL": settings.wishlist_database_url,
        "REDIS_URL": settings.redis_url,
        "AMQP_URL": settings.amqp_url,
        "GATEWAY_PORT": str(gateway_port),
        "CUSTOMER_SERVICE_PORT": str(gateway_port + 1),
        "AUTH_SERVICE_PORT": str(gateway_port + 2),
        "IMPEX_WORKER_PORT": str(gateway_port + 3),
        "GATEWAY_ADMIN_PORT": str(admin_port if admin_port is not None else gateway_port + 4),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{gateway_port}",
        "PSEUDONYM_KEY": settings.pseudonym_key,
        "LOG_LEVEL": "INFO",
        "UPLOAD_READ_TIMEOUT_SECONDS": str(UPLOAD_READ_TIMEOUT),
    }


@contextlib.contextmanager
def started(
    suite: Suite | ReplicatedSuite,
    services: tuple[str, ...] | None = None,
    *,
    timeout: float = 120,
) -> Iterator[RunningSuite]:
    """`suite` started (all its services, or `services`) and ready; stopped on the way out."""
    try:
        if services is None:
            suite.start()
        else:
            suite.start(services)
        suite.wait_ready(timeout=timeout)
        yield RunningSuite(suite.env["PUBLIC_BASE_URL"], suite.env, suite)
    finally:
        suite.stop()


# Package scope: the suite stops before the integration tests run, whose in-process consumers
# would otherwise compete with its worker for the same queues.
@pytest.fixture(scope="package")
def running_suite(test_settings: Settings, tmp_path_factory) -> Iterator[RunningSuite]:
    env = suite_env(test_settings)
    log_dir = tmp_path_factory.mktemp("suite-logs")
    suite: Suite | ReplicatedSuite = (
        ReplicatedSuite(env=env, log_dir=log_dir, replicas=REPLICAS)
        if REPLICAS >= 2
        else Suite(env=env, log_dir=log_dir)
    )
    with started(suite) as running:
        yield running


@dataclass(frozen=True)
class Client:
    """A tenant's API client: credentials from the CLI, a token from the token endpoint."""

    tenant: str
    client_id: str
    client_secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-TWC-Tenant": self.tenant}


async def obtain_client(running_suite: RunningSuite, http: aiohttp.ClientSession, tenant: str):
    credentials = running_suite.provision(tenant)
    token = (await fetch_token(running_suite, http, credentials))["access_token"]
    return Client(tenant, credentials["client_id"], credentials["client_secret"], token)


async def fetch_token(
    running_suite: RunningSuite, http: aiohttp.ClientSession, credentials: dict[str, str]
) -> dict:
    """The token endpoint's answer for a client's credentials (client_credentials grant)."""
    tenant = credentials["tenant"]
    async with http.post(
        f"{running_suite.base_url}/auth/realms/{tenant}/protocol/openid-connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
    ) as response:
        assert response.status == 200, await response.text()
        return await response.json()


@pytest.fixture
async def client(running_suite, http, unique_tenant) -> Client:
    """A freshly provisioned tenant with a valid token."""
    return await obtain_client(running_suite, http, unique_tenant)
