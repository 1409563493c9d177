"""`make fuzz`: Schemathesis against the OpenAPI document and the live suite.

Starts the whole suite on its own database (made anew, dropped at the end), provisions a tenant
whose client has every scope, gets a token, registers a shopper and logs it in, and runs `st run`
on the gateway's /openapi.json with every Schemathesis check and phase (schemathesis.toml beside
this file: the token, the client's Basic credentials, the tenant header, the shopper's session
for the /shoppers/me operations, and the few exclusions, each with its reason).

Environment (all optional):
  CS_TEST_SLOT       parallel slot as for `make test` (0-7): picks the database names, Redis db,
                     RabbitMQ vhost and ports (gateway on 18084 + 10 * slot, services after it)
  FUZZ_MAX_EXAMPLES  test cases per operation and phase (default 50)
  FUZZ_SEED          a seed, to replay a run
  FUZZ_ARGS          extra arguments for `st run` (e.g. "--include-path-regex customers")
Reports (JUnit XML, and a pytest file reproducing any failure) go to .run/fuzz/.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from deploy.local.suite import Suite
from shared.authz import ALL_SCOPES
from shared.migrations import migrate_all
from shared.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def fuzz_environment(slot: int) -> dict[str, str]:
    """The suite's environment for a fuzz run: its own databases and ports."""
    settings = load_settings(ROOT / ".env")
    suffix = f"_s{slot}" if slot else ""
    redis = urlsplit(settings.redis_url)._replace(path=f"/{15 - slot}")
    amqp = urlsplit(settings.amqp_url)._replace(path=f"/customer_suite_test{suffix}")
    gateway_port = 18084 + 10 * slot
    return {
        **os.environ,
        "DATABASE_URL": _with_database(settings.database_url, f"customer_suite_fuzz{suffix}"),
        "WISHLIST_DATABASE_URL": _with_database(
            settings.database_url, f"customer_suite_fuzz{suffix}_wishlist"
        ),
        "REDIS_URL": urlunsplit(redis),
        "AMQP_URL": urlunsplit(amqp),
        "GATEWAY_PORT": str(gateway_port),
        "CUSTOMER_SERVICE_PORT": str(gateway_port + 1),
        "AUTH_SERVICE_PORT": str(gateway_port + 2),
        "IMPEX_WORKER_PORT": str(gateway_port + 3),
        "GATEWAY_ADMIN_PORT": str(gateway_port + 5),  # the slot's last port
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{gateway_port}",
        "TOKEN_TTL_SECONDS": "7200",
        # Fuzzing is a burst from one client: the rate limiter would only slow it down.
        "RATE_LIMIT_TENANT_PER_SECOND": "100000",
        "RATE_LIMIT_TENANT_BURST": "100000",
        "RATE_LIMIT_CLIENT_PER_SECOND": "100000",
        "RATE_LIMIT_CLIENT_BURST": "100000",
        "PSEUDONYM_KEY": "fuzz-pseudonym-key",
        "LOG_LEVEL": "WARNING",
    }


async def _drop_databases(env: dict[str, str]) -> None:
    admin = await asyncpg.connect(_with_database(env["DATABASE_URL"], "postgres"))
    try:
        for url in {env["DATABASE_URL"], env["WISHLIST_DATABASE_URL"]}:
            name = urlsplit(url).path.lstrip("/")
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _fresh_databases(env: dict[str, str]) -> None:
    await _drop_databases(env)
    await migrate_all(env["DATABASE_URL"], env["WISHLIST_DATABASE_URL"])


def _token(base_url: str, credentials: dict[str, str]) -> str:
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        }
    ).encode()
    url = f"{base_url}/auth/realms/{credentials['tenant']}/protocol/openid-connect/token"
    with urllib.request.urlopen(url, data=form, timeout=10) as response:
        return json.load(response)["access_token"]


def _shopper_session(base_url: str, tenant: str, token: str) -> str:
    """A registered shopper's session token (the AccessToken header of the /shoppers/me
    operations; a generated one would only ever get the 401 of "no session")."""
    shoppers = f"{base_url}/services/customerservice/api/v2/shoppers"
    headers = {
        "Authorization": f"Bearer {token}",
        "X-TWC-Tenant": tenant,
        "Content-Type": "application/json",
    }
    login = {
        "username": f"shopper-{uuid.uuid4().hex[:8]}@example.com",
        "password": uuid.uuid4().hex,
    }
    for path in ("register", "login"):
        request = urllib.request.Request(
            f"{shoppers}/{path}", data=json.dumps(login).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.load(response)
    return answer["Token"]["AccessToken"]


def schemathesis_environment(
    env: dict[str, str], tenant: str, token: str, credentials: dict[str, str], session: str
) -> dict[str, str]:
    """What schemathesis.toml reads: the bearer token for /services operations, the client's
    credentials (HTTP Basic) for the OAuth endpoints, the tenant header, a shopper's session."""
    return {
        **env,
        "FUZZ_TENANT": tenant,
        "FUZZ_TOKEN": token,
        "FUZZ_CLIENT_ID": credentials["client_id"],
        "FUZZ_CLIENT_SECRET": credentials["client_secret"],
        "FUZZ_SHOPPER_SESSION": session,
    }


def schemathesis_command(base_url: str, report_dir: Path) -> list[str]:
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{base_url}/openapi.json",
        "--url",
        base_url,
        "--max-examples",
        os.environ.get("FUZZ_MAX_EXAMPLES", "50"),
        "--request-timeout",
        "30",
        "--report",
        "junit,pytest",
        "--report-dir",
        str(report_dir),
    ]
    if seed := os.environ.get("FUZZ_SEED"):
        command += ["--seed", seed]
    return command + shlex.split(os.environ.get("FUZZ_ARGS", ""))


def main() -> int:
    env = fuzz_environment(int(os.environ.get("CS_TEST_SLOT", "0")))
    base_url = env["PUBLIC_BASE_URL"]
    run_dir = ROOT / ".run" / "fuzz"
    asyncio.run(_fresh_databases(env))
    suite = Suite(env=env, log_dir=run_dir / "logs")
    try:
        suite.start()
        suite.wait_ready(timeout=90)
        tenant = f"fuzz_{uuid.uuid4().hex[:8]}"
        provisioned = subprocess.run(
            [sys.executable, "-m", "auth_service", "tenants", "create", tenant,
             "--scopes", " ".join(ALL_SCOPES)],
            env=env, cwd=ROOT, check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        credentials = json.loads(provisioned.stdout.strip().splitlines()[-1])
        token = _token(base_url, credentials)
        command = schemathesis_command(base_url, run_dir)
        print(f"fuzzing {base_url} as tenant {tenant} (logs and reports: {run_dir})", flush=True)
        session = _shopper_session(base_url, tenant, token)
        fuzz_env = schemathesis_environment(env, tenant, token, credentials, session)
        return subprocess.run(command, cwd=ROOT, env=fuzz_env, check=False).returncode
    finally:
        suite.stop()
        asyncio.run(_drop_databases(env))


if __name__ == "__main__":
    sys.exit(main())
