"""`make run`: migrate, provision the demo tenant, start the suite, print how to call it,
and stop every child on Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from deploy.local.replicas import ReplicatedSuite
from deploy.local.suite import Suite
from shared.insecure_defaults import FLAG as INSECURE_DEV_DEFAULTS_FLAG
from shared.insecure_defaults import insecure_settings
from shared.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEMO_TENANT = "demo"


def main() -> int:
    settings = load_settings(ROOT / ".env")
    env = dict(os.environ)
    if insecure_settings(settings):
        # A demo on a development machine: no PSEUDONYM_KEY of one's own yet (README: set one).
        env.setdefault(INSECURE_DEV_DEFAULTS_FLAG, "1")
    python = sys.executable
    subprocess.run([python, "-m", "shared.migrations"], check=True, env=env, cwd=ROOT)
    provisioned = subprocess.run(
        [python, "-m", "auth_service", "tenants", "create", DEMO_TENANT],
        check=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    credentials = json.loads(provisioned.stdout.strip().splitlines()[-1])
    replicas = int(env.get("REPLICAS") or 1)
    log_dir = ROOT / ".run" / "logs"
    suite: Suite | ReplicatedSuite = (
        ReplicatedSuite(env=env, log_dir=log_dir, replicas=replicas)
        if replicas >= 2
        else Suite(env=env, log_dir=log_dir)
    )

    stop_requested = False

    def request_stop(_signum: int, _frame: object) -> None:
        # The first signal stops the suite; repeats (make forwards its own) must not interrupt
        # that orderly stop and leave children behind.
        nonlocal stop_requested
        if not stop_requested:
            stop_requested = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        suite.start()
        suite.wait_ready(timeout=90)
        print(_banner(settings, credentials, suite.log_dir), flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping the suite…", flush=True)
        suite.stop()
    return 0


def _banner(settings: Settings, credentials: dict[str, str], log_dir: Path) -> str:
    base = settings.public_base_url
    tenant = credentials["tenant"]
    client_id = credentials["client_id"]
    secret = credentials["client_secret"]
    api = f"{base}/services/customerservice/api/v2"
    return f"""
The customer suite is running: gateway {base}   (logs: {log_dir})
Gateway metrics and detailed readiness (internal port):
  http://127.0.0.1:{settings.gateway_admin_port}/metrics   /readyz

Demo tenant: {tenant}
  client_id:     {client_id}
  client_secret: {secret}

Try it (copy and paste):

  TOKEN=$(curl -s -X POST {base}/auth/realms/{tenant}/protocol/openid-connect/token \\
    -d grant_type=client_credentials -d client_id={client_id} -d client_secret={secret} \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

  ID=$(curl -s -X POST {api}/customers \\
    -H "Authorization: Bearer $TOKEN" -H "X-TWC-Tenant: {tenant}" \\
    -H 'Content-Type: application/json' \\
    -d "{{\\"email\\": \\"ada.$RANDOM@example.com\\", \\"firstName\\": \\"Ada\\"}}" \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

  curl -s {api}/customers/$ID -H "Authorization: Bearer $TOKEN" -H "X-TWC-Tenant: {tenant}"

Ctrl-C stops everything.
"""


if __name__ == "__main__":
    sys.exit(main())
