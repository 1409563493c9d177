"""Throwaway servers the tests start and stop themselves (by PID, never by name)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from tests.support.waiting import eventually


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Until something listens on `port` (polled with a deadline, never blocking the loop)."""

    async def listening() -> bool:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    await eventually(listening, timeout=timeout, interval=0.02, what=f"a listener on {port}")


def wait_for_port_blocking(port: int, timeout: float = 10.0) -> None:
    """`wait_for_port` for code outside an event loop (servers started by sync fixtures)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {port} after {timeout} s")


@dataclass
class PrivateRedis:
    """A redis-server of a test's own on a fixed port, stopped and started again by PID (an
    outage and a restart that comes back empty, as an unpersisted Redis does)."""

    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make test installs it)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port_blocking(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    """A private redis-server on a free port, started; stopped at the end in any case."""
    redis = PrivateRedis(free_port())
    try:
        redis.start()
        yield redis
    finally:
        redis.stop()


@asynccontextmanager
async def throwaway_redis() -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """A private redis-server on a free port: (url, process). Stop it early to simulate an
    outage with `process.terminate()`; it is stopped at the end in any case."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (make test installs it)")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)
