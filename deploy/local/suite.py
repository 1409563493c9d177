"""Starting and stopping the four services as child processes (for `make run` and e2e tests).

Each child gets its own process group, so stopping it (SIGTERM, then SIGKILL after a grace
period) reaches everything it started and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shared.settings import Settings

SERVICES = ("auth_service", "customer_service", "impex_worker", "gateway")
# The Settings field of each service's port (its variable is the name in upper case).
PORT_SETTINGS = {service: f"{service}_port" for service in SERVICES}
# Services whose /metrics and detailed /readyz are on an internal port of their own, because
# their own port is public.
ADMIN_PORT_SETTINGS = {"gateway": "gateway_admin_port"}
_DEFAULTS = Settings()


def _port(env: Mapping[str, str], setting: str) -> int:
    return int(env.get(setting.upper(), getattr(_DEFAULTS, setting)))


def service_port(env: Mapping[str, str], service: str) -> int:
    return _port(env, PORT_SETTINGS[service])


def admin_port(env: Mapping[str, str], service: str) -> int:
    """Where `service` serves `/metrics` and its detailed `/readyz`."""
    return _port(env, ADMIN_PORT_SETTINGS.get(service, PORT_SETTINGS[service]))


@dataclass
class Suite:
    """The running suite: one child process per service, logs in `log_dir`.

    Each module runs as `entrypoint + [module, *args]`: this interpreter by default; the image's
    own `python -m` with `preexec_fn` entering its filesystem in `make image-test`."""

    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    entrypoint: Sequence[str] = (sys.executable, "-m")
    preexec_fn: Callable[[], None] | None = None

    def start(self, services: tuple[str, ...] = SERVICES) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service in services:
            self.start_service(service)

    def start_service(self, service: str) -> subprocess.Popen:
        log_file = (self.log_dir / f"{service}.log").open("ab")
        process = subprocess.Popen(
            [*self.entrypoint, service],
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=self.preexec_fn,
        )
        log_file.close()
        self.processes[service] = process
        return process

    @contextlib.contextmanager
    def running(self, *, timeout: float = 60.0) -> Iterator[Suite]:
        """Every service started and ready inside the block; all stopped on leaving it."""
        try:
            self.start()
            self.wait_ready(timeout=timeout)
            yield self
        finally:
            self.stop()

    def run_module(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """`python -m <args>` the way the services run (a CLI, the migrations); raise when it
        fails, with what it printed."""
        result = subprocess.run(
            [*self.entrypoint, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            preexec_fn=self.preexec_fn,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"python -m {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll every service's detailed /readyz (the gateway's on its admin port, which is
        then known to listen too) until all answer 200; raise with the laggards named."""
        deadline = time.monotonic() + timeout
        pending = set(self.processes)
        while pending and time.monotonic() < deadline:
            for service in sorted(pending):
                process = self.processes[service]
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{service} exited with {process.returncode}; see {self.log_dir}"
                    )
                if _answers(f"http://127.0.0.1:{admin_port(self.env, service)}/readyz"):
                    pending.discard(service)
            if pending:
                time.sleep(0.2)
        if pending:
            raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")

    def stop_service(self, service: str, *, grace: float = 15.0, sig: int = signal.SIGTERM) -> int:
        """Signal one service's process group, wait, then kill what is left. Returns its code."""
        process = self.processes.pop(service)
        if process.poll() is None:
            _signal_group(process.pid, sig)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        return process.returncode

    def stop(self, *, grace: float = 15.0) -> None:
        # The gateway first, so no new work arrives while the others drain.
        for service in reversed(list(self.processes)):
            self.stop_service(service, grace=grace)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
