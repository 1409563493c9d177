"""One service as a child process of its own (own process group, free port), for tests that
signal it or measure it, next to in-process stand-ins served by the test's own event loop.

Every wait here polls with a deadline and never blocks the event loop: the stand-ins the service
talks to (JWKS, upstreams) run on that loop and must keep answering meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from deploy.local.suite import Suite
from tests.support.waiting import eventually


@dataclass
class ServiceProcess:
    suite: Suite
    service: str
    port: int

    @property
    def pid(self) -> int:
        return self.suite.processes[self.service].pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return (self.suite.log_dir / f"{self.service}.log").read_text(errors="replace")

    def returncode(self) -> int | None:
        return self.suite.processes[self.service].poll()

    async def wait_healthy(self, timeout: float = 30.0) -> None:
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                if self.returncode() is not None:
                    raise AssertionError(f"{self.service} exited early:\n{self.log()[-3000:]}")
                try:
                    async with http.get(f"{self.base_url}/healthz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually(healthy, timeout=timeout)

    def send(self, sig: int) -> None:
        """Signal the service's process group (it is the group leader), as an orchestrator
        signals a container."""
        os.killpg(self.pid, sig)

    async def wait_exit(self, timeout: float) -> int:
        async def exited() -> bool:
            return self.returncode() is not None

        await eventually(exited, timeout=timeout)
        return self.suite.processes[self.service].returncode

    async def refuses_connections(self) -> bool:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except (ConnectionRefusedError, ConnectionResetError):
            # Reset: the connection reached the backlog of a listener that then closed.
            return True
        writer.close()
        return False

    def peak_rss_bytes(self) -> int:
        """The process's peak resident set so far (VmHWM), from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in kB
        raise RuntimeError("no VmHWM in /proc/<pid>/status")


@contextmanager
def service_process(
    service: str, port: int, env: dict[str, str], log_dir: Path
) -> Iterator[ServiceProcess]:
    """`python -m <service>` with `env`, its log in `log_dir`; killed (its group, by PID) on the
    way out if the test has not stopped it."""
    suite = Suite(env=env, log_dir=log_dir)
    suite.log_dir.mkdir(parents=True, exist_ok=True)
    suite.start_service(service)
    try:
        yield ServiceProcess(suite, service, port)
    finally:
        if service in suite.processes:
            suite.stop_service(service, grace=0, sig=signal.SIGKILL)
