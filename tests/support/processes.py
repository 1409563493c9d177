"""Throwaway servers the tests start and stop themselves (by PID, never by name)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
