"""`make run REPLICAS=N`: N processes of every service behind HAProxy, the local stand-in for
Kubernetes Services (API.md §6).

HAProxy listens on the ports one process would: GATEWAY_PORT (8080, public) balances over the
gateways, CUSTOMER_SERVICE_PORT (8081) and AUTH_SERVICE_PORT (8082) over customer_service and
auth_service; every process reaches the others only through those balanced addresses. Replica i
(1..N) of a service listens on its port + 100 * i (8181, 8281, ... for customer_service).
impex_worker replicas have no balancer: they compete on the same queues.

A replica that dies is out of rotation after one failed health check (`/healthz` every 500 ms),
and a request refused by a dead replica is retried on another (`retry-on conn-failure`, safe for
any method: nothing reached the process), so new requests succeed within a second or two.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.local.suite import (
    ADMIN_PORT_SETTINGS,
    PORT_SETTINGS,
    SERVICES,
    Suite,
    admin_port,
    service_port,
)

BALANCED = ("gateway", "customer_service", "auth_service")
REPLICA_PORT_STEP = 100


def replica_port(base: int, replica: int) -> int:
    return base + REPLICA_PORT_STEP * replica


def replica_env(env: Mapping[str, str], replica: int) -> dict[str, str]:
    """Replica `replica`'s environment: its own ports, the balanced addresses of the others."""
    out = dict(env)
    for service, setting in PORT_SETTINGS.items():
        out[setting.upper()] = str(replica_port(service_port(env, service), replica))
    for service, setting in ADMIN_PORT_SETTINGS.items():
        out[setting.upper()] = str(replica_port(admin_port(env, service), replica))
    out["CUSTOMER_SERVICE_URL"] = f"http://127.0.0.1:{service_port(env, 'customer_service')}"
    out["AUTH_SERVICE_URL"] = f"http://127.0.0.1:{service_port(env, 'auth_service')}"
    out.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{service_port(env, 'gateway')}")
    return out


def haproxy_config(env: Mapping[str, str], replicas: int) -> str:
    """HAProxy's configuration: one frontend and backend per balanced service."""
    lines = [
        "global",
        "    log stdout format raw local0 warning",
        "    maxconn 4096",
        "defaults",
        "    mode http",
        "    log global",
        "    option dontlognull",
        "    timeout connect 1s",
        "    timeout client 120s",
        "    timeout server 120s",
        "    timeout http-request 30s",
        # A dead replica's refused connection is retried elsewhere; nothing reached it.
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure",
        "    default-server inter 500ms fastinter 250ms downinter 500ms fall 1 rise 2",
    ]
    for service in BALANCED:
        port = service_port(env, service)
        lines += [
            f"frontend {service}",
            f"    bind 127.0.0.1:{port}",
            f"    default_backend {service}_replicas",
            f"backend {service}_replicas",
            "    balance roundrobin",
            "    option httpchk GET /healthz",
            "    http-check expect status 200",
        ]
        lines += [
            f"    server {service}-{i} 127.0.0.1:{replica_port(port, i)} check"
            for i in range(1, replicas + 1)
        ]
    return "\n".join(lines) + "\n"


@dataclass
class ReplicatedSuite:
    """N copies of the suite (one `Suite` per replica number) and the HAProxy in front."""

    env: dict[str, str]
    log_dir: Path
    replicas: int
    suites: list[Suite] = field(default_factory=list)
    balancer: subprocess.Popen | None = None

    def start(self) -> None:
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        config = self.log_dir / "haproxy.cfg"
        config.write_text(haproxy_config(self.env, self.replicas), encoding="utf-8")
        subprocess.run([haproxy, "-c", "-q", "-f", str(config)], check=True)
        with (self.log_dir / "haproxy.log").open("ab") as log_file:
            self.balancer = subprocess.Popen(
                [haproxy, "-db", "-f", str(config)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        for replica in range(1, self.replicas + 1):
            suite = Suite(env=replica_env(self.env, replica), log_dir=self.log_dir / f"r{replica}")
            self.suites.append(suite)
            suite.start(SERVICES)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        for suite in self.suites:
            suite.wait_ready(timeout=max(1.0, deadline - time.monotonic()))

    def run_module(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """`python -m <args>` as replica 1 runs (a CLI: every replica shares the datastores)."""
        return self.suites[0].run_module(*args, timeout=timeout)

    def process(self, service: str, replica: int) -> subprocess.Popen:
        return self.suites[replica - 1].processes[service]

    @property
    def processes(self) -> dict[str, subprocess.Popen]:
        """Replica 1's processes: what `stop_service` and `start_service` act on by default."""
        return self.suites[0].processes

    def stop_service(self, service: str, *, replica: int = 1, **options: Any) -> int:
        """Stop one replica of a service (`Suite.stop_service`); the others keep serving."""
        return self.suites[replica - 1].stop_service(service, **options)

    def start_service(self, service: str, *, replica: int = 1) -> subprocess.Popen:
        return self.suites[replica - 1].start_service(service)

    def stop(self) -> None:
        for suite in self.suites:
            suite.stop()
        self.suites.clear()
        if self.balancer is not None and self.balancer.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.balancer.send_signal(signal.SIGTERM)
            try:
                self.balancer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.balancer.kill()
                self.balancer.wait(timeout=5)
        self.balancer = None
