"""A PostgreSQL cluster of a test's own (initdb into a temporary directory, its own port), so a
test can stop and restart it without touching the shared server other test runs use."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return found[-1]


def _as_postgres(*command: str) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@dataclass
class PrivateCluster:
    data_dir: Path
    port: int

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres(_bin("pg_ctl"), "-D", str(self.data_dir), "-o", options, "-w",
                         "-l", str(self.data_dir / "server.log"), "start"),
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"),
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A fresh cluster (trust auth, user postgres), started; stopped and deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix="cs-pg-"))
    data_dir = root / "data"
    data_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data_dir, "postgres")
    subprocess.run(
        _as_postgres(_bin("initdb"), "-D", str(data_dir), "-A", "trust", "-U", "postgres"),
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    cluster = PrivateCluster(data_dir, free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run(
            _as_postgres(_bin("pg_ctl"), "-D", str(data_dir), "-m", "immediate", "stop"),
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
