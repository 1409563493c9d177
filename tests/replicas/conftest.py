"""`make run REPLICAS=2` as the tests see it: two processes of every service behind HAProxy, on
ports of the test slot's own (beside the e2e suite's), against the slot's stores."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from shared.replicas import ReplicatedSuite, replica_port
from shared.settings import Settings
from shared.suite import service_port
from tests.conftest import E2E_PORT_BASE
from tests.e2e.conftest import suite_env

ROOT = Path(__file__).resolve().parents[2]
REPLICAS = 2
# The balanced addresses: the slot's e2e ports moved up by 10000 (those ten are all taken by
# e2e suites); replica i of each adds 100 * i (shared/replicas.py).
_BASE = E2E_PORT_BASE + 10000
PORTS = {
    "GATEWAY_PORT": _BASE,
    "CUSTOMER_SERVICE_PORT": _BASE + 1,
    "AUTH_SERVICE_PORT": _BASE + 2,
    "IMPEX_WORKER_PORT": _BASE + 3,
    "GATEWAY_ADMIN_PORT": _BASE + 4,
}


@dataclass(frozen=True)
class Replicated:
    suite: ReplicatedSuite
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{PORTS['GATEWAY_PORT']}"

    def replica_url(self, service: str, replica: int) -> str:
        return f"http://127.0.0.1:{replica_port(service_port(self.env, service), replica)}"

    def provision(self, tenant: str) -> dict[str, str]:
        result = subprocess.run(
            [sys.executable, "-m", "auth_service", "tenants", "create", tenant],
            env=self.env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return json.loads(result.stdout)


@pytest.fixture(scope="package")
def replicated(test_settings: Settings, tmp_path_factory) -> Iterator[Replicated]:
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
        yield Replicated(suite, env)
    finally:
        suite.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def tenant_headers(replicated: Replicated, http, unique_tenant) -> dict[str, str]:
    credentials = replicated.provision(unique_tenant)
    async with http.post(
        f"{replicated.base_url}/auth/realms/{unique_tenant}/protocol/openid-connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
    ) as response:
        assert response.status == 200, await response.text()
        token = (await response.json())["access_token"]
    return {"Authorization": f"Bearer {token}", "X-TWC-Tenant": unique_tenant}
