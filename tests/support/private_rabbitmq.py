"""A RabbitMQ node of a test's own, so a test can kill and restart it without touching the shared
broker other test runs use (the counterpart of tests/support/private_postgres.py).

Everything of the node's lives in a temporary directory: its node name, AMQP port, Erlang
distribution port, mnesia and log directories, an empty enabled-plugins file (no management
plugin), a config file and an empty rabbitmq-env.conf (so the machine's /etc/rabbitmq files,
which name the shared node, are never read), and HOME (its Erlang cookie). It registers with an
epmd of its own on a port of its own, which this module starts in the foreground and stops by
PID (a node left to start epmd itself would leave a daemon behind). The node runs in its own
process group and is stopped by signalling that group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import free_port, wait_for_port_blocking

_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
# The CLI itself, not /usr/sbin's wrapper (that one runs it as the rabbitmq user, whose HOME holds
# the shared node's cookie, not this node's).
_CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
# Start-up of a node takes ~5-15 s on a loaded machine (more when it recovers quorum queues).
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


def _epmd() -> str:
    found = shutil.which("epmd") or next(
        iter(sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))), None
    )
    if found is None:
        raise RuntimeError("Erlang's epmd is not installed (it comes with rabbitmq-server)")
    return str(found)


@dataclass
class PrivateBroker:
    root: Path
    port: int
    dist_port: int
    epmd_port: int
    node: str
    process: subprocess.Popen | None = None
    epmd: subprocess.Popen | None = None
    starts: int = field(default=0)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("RABBITMQ_", "ERL_"))
        }
        return {
            **env,
            "HOME": str(self.root),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_LOGS": "-",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the node and wait until it speaks AMQP (the listener opens last in its boot)."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with (self.root / f"node-{self.starts}.log").open("ab") as log_file:
            self.process = subprocess.Popen(
                [_SERVER],
                env=self._env(),
                cwd=self.root,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not _speaks_amqp(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self.process.returncode}:\n"
                                   f"{self.log()[-3000:]}")  # fmt: skip
            if time.monotonic() > deadline:
                raise TimeoutError(f"private RabbitMQ not up after {timeout:.0f} s:\n"
                                   f"{self.log()[-3000:]}")  # fmt: skip
            time.sleep(0.2)

    def crash(self) -> None:
        """SIGKILL the node, as a crash, once its registries are on disk (`sync_registries`)."""
        self.sync_registries()
        self.stop(signal.SIGKILL)

    def sync_registries(self, timeout: float = START_TIMEOUT) -> None:
        """Write the node's DETS tables to disk. RabbitMQ 3.10's Raft library (ra 2.2) records
        each quorum queue's server in a DETS table that writes lazily (up to ~3 s late): a queue
        declared just before a SIGKILL comes back as a new Raft server that never elects a
        leader, and the node then holds every publish routed to that queue unconfirmed (a
        fresh channel's is nacked after 65 s) for good. A real broker's queues are older than
        that; a test's queue is declared seconds before the crash. One `rabbitmqctl eval`:
        2-5 s on a loaded machine, so a test calls it before the moment it kills the node."""
        subprocess.run(
            [_CTL, "-n", self.node, "eval", "[ok = dets:sync(T) || T <- dets:all()], ok."],
            env=self._env(),
            cwd=self.root,
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> None:
        """Signal the node's process group (SIGTERM: an orderly stop; SIGKILL: a crash) and
        wait until it has exited and its port is closed."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        # The script may exit before beam does: the node is down once its group is gone.
        deadline = time.monotonic() + timeout
        while _group_alive(process.pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            time.sleep(0.05)

    def pause(self, timeout: float = STOP_TIMEOUT) -> None:
        """Freeze the node (SIGSTOP to its group): its sockets stay open and take frames, it
        answers nothing. Returns once the kernel reports every thread of the group stopped:
        `killpg` only queues the signal, and a thread of the node running on another CPU goes
        on (reading and answering frames) until it next enters the kernel."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)
        deadline = time.monotonic() + timeout
        while not _group_stopped(self.process.pid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the node's threads not all stopped after {timeout:.0f} s")
            time.sleep(0.01)

    def resume(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)

    def log(self) -> str:
        return (self.root / f"node-{self.starts}.log").read_text(errors="replace")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_stopped(pgid: int) -> bool:
    """Every thread of every process in the group is in the stopped state (/proc)."""
    threads = 0
    for stat in Path("/proc").glob("[0-9]*/task/[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited meanwhile
        # "tid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split(" ", 3)[:3]
        if int(pgrp) != pgid:
            continue
        threads += 1
        if state not in ("T", "t"):
            return False
    return threads > 0


def _speaks_amqp(port: int) -> bool:
    """The AMQP 0-9-1 protocol header is answered with a frame (connection.start)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(1) == b"\x01"  # a method frame
    except OSError:
        return False


@contextmanager
def private_broker() -> Iterator[PrivateBroker]:
    """A fresh node (user guest, vhost /), started; stopped and its files deleted afterwards."""
    if not Path(_SERVER).exists():
        raise RuntimeError("rabbitmq-server is not installed (make test installs it)")
    root = Path(tempfile.mkdtemp(prefix="cs-rabbit-"))
    port = free_port()
    (root / "rabbitmq-env.conf").write_text("")
    (root / "enabled_plugins").write_text("[].\n")
    (root / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{port}\n")
    broker = PrivateBroker(
        root=root,
        port=port,
        dist_port=free_port(),
        epmd_port=free_port(),
        node=f"cs-test-{os.getpid()}-{root.name[-6:]}@localhost",
    )
    broker.epmd = subprocess.Popen(
        [_epmd(), "-port", str(broker.epmd_port), "-address", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port_blocking(broker.epmd_port)
        broker.start()
        yield broker
    finally:
        broker.stop(signal.SIGKILL, timeout=30)
        if broker.epmd.poll() is None:
            broker.epmd.terminate()
            broker.epmd.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
