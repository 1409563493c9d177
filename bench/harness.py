"""What every benchmark shares: its own datastores and ports, the suite around it, measurements.

Benchmarks never touch what `make run` or `make test` use: the database `customer_suite_bench`
(created and migrated here, kept between runs because the 1M-customer seed takes a while), the
RabbitMQ vhost `customer_suite_bench`, Redis database 7 and the ports 18200-18203. Override with
BENCH_DATABASE_URL, BENCH_AMQP_URL, BENCH_REDIS_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg
import uvloop

from deploy.local.suite import Suite
from shared.migrations import migrate_all
from shared.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = ROOT / ".run" / "bench"
BENCH_NAME = "customer_suite_bench"
TENANT = "bench"
DEFAULT_CUSTOMERS = 1_000_000
PORTS = {
    "gateway": 18200,
    "customer_service": 18201,
    "auth_service": 18202,
    "impex_worker": 18203,
    "gateway_admin": 18204,
}
# The bench's limits are far above what 2 cores can push: the rate limiter still runs its Redis
# script (once per block of up to 64 requests, gateway.rate_limit; that cost is measured), it
# just never answers 429.
UNLIMITED = "1000000"

T = TypeVar("T")


# ----------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class BenchEnv:
    """The environment the suite runs with, and the same as typed settings for this process."""

    env: dict[str, str]
    settings: Settings

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{PORTS['gateway']}"

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{PORTS['customer_service']}"

    @property
    def database_url(self) -> str:
        return self.settings.database_url


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def bench_env() -> BenchEnv:
    """Point this process and the suite it starts at the bench's datastores and ports."""
    base = load_settings(env_file=ROOT / ".env")
    overrides = {
        "DATABASE_URL": os.environ.get(
            "BENCH_DATABASE_URL", _with_database(base.database_url, BENCH_NAME)
        ),
        "AMQP_URL": os.environ.get(
            "BENCH_AMQP_URL", f"amqp://guest:guest@127.0.0.1:5672/{BENCH_NAME}"
        ),
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7"),
        "GATEWAY_PORT": str(PORTS["gateway"]),
        "CUSTOMER_SERVICE_PORT": str(PORTS["customer_service"]),
        "AUTH_SERVICE_PORT": str(PORTS["auth_service"]),
        "IMPEX_WORKER_PORT": str(PORTS["impex_worker"]),
        "GATEWAY_ADMIN_PORT": str(PORTS["gateway_admin"]),
        "CUSTOMER_SERVICE_URL": f"http://127.0.0.1:{PORTS['customer_service']}",
        "AUTH_SERVICE_URL": f"http://127.0.0.1:{PORTS['auth_service']}",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{PORTS['gateway']}",
        "IMPEX_DROP_DIR": str(RUN_DIR / "drop"),
        "PSEUDONYM_KEY": "bench-pseudonym-key",
        "TOKEN_TTL_SECONDS": "3600",
        "LOG_LEVEL": "INFO",
        "RATE_LIMIT_TENANT_PER_SECOND": UNLIMITED,
        "RATE_LIMIT_TENANT_BURST": UNLIMITED,
        "RATE_LIMIT_CLIENT_PER_SECOND": UNLIMITED,
        "RATE_LIMIT_CLIENT_BURST": UNLIMITED,
    }
    overrides["WISHLIST_DATABASE_URL"] = overrides["DATABASE_URL"]
    os.environ.update(overrides)
    return BenchEnv(env=dict(os.environ), settings=load_settings(env_file=None))


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--customers",
        type=int,
        default=DEFAULT_CUSTOMERS,
        help=f"customers in the bench tenant (default {DEFAULT_CUSTOMERS:,}; reused if equal)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="drop the bench database first and seed anew"
    )
    parser.add_argument(
        "--drop-db", action="store_true", help="drop the bench database at the end (default: keep)"
    )


# -------------------------------------------------------------------------------- datastores


def ensure_vhost(amqp_url: str) -> None:
    """Create the bench vhost with rabbitmqctl (and grant the user) if it cannot be opened."""
    parts = urlsplit(amqp_url)
    vhost = unquote(parts.path.lstrip("/")) or "/"
    if run_async(_vhost_opens(amqp_url)):
        return
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"bench: cannot open RabbitMQ vhost {vhost!r} at {parts.hostname}")
    user = unquote(parts.username or "guest")
    vhosts = subprocess.run(
        ["rabbitmqctl", "-s", "list_vhosts", "name"], capture_output=True, text=True, check=True
    ).stdout.split()
    if vhost not in vhosts:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
        print(f"rabbitmq: created vhost {vhost}", flush=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"], check=True
    )


async def _vhost_opens(amqp_url: str) -> bool:
    try:
        connection = await aio_pika.connect(amqp_url, timeout=5)
    except Exception:
        return False
    await connection.close()
    return True


async def prepare_database(benv: BenchEnv, *, fresh: bool) -> None:
    """The bench database, created if missing (dropped first with `fresh`) and migrated."""
    if fresh:
        await drop_database(benv)
    applied = await migrate_all(benv.database_url, benv.database_url)
    if any(applied.values()):
        print(f"database: migrations applied {applied}", flush=True)


async def drop_database(benv: BenchEnv) -> None:
    name = unquote(urlsplit(benv.database_url).path.lstrip("/"))
    admin = await asyncpg.connect(benv.database_url, database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"database: dropped {name}", flush=True)
    finally:
        await admin.close()


# ----------------------------------------------------------------------------------- suite


def check_ports_free() -> None:
    for service, port in PORTS.items():
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(
                    f"bench: port {port} ({service}) is in use; a previous bench run may still "
                    f"be running (see `ss -ltnp | grep {port}`)"
                )


@contextlib.contextmanager
def running_suite(benv: BenchEnv) -> Iterator[Suite]:
    """The four services on the bench ports; always stopped (by PID) on the way out."""
    check_ports_free()
    log_dir = RUN_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    suite = Suite(env=benv.env, log_dir=log_dir)
    try:
        suite.start()
        suite.wait_ready(timeout=90)
        pids = ", ".join(f"{name} {p.pid}" for name, p in suite.processes.items())
        print(f"suite: ready ({pids}; logs in {log_dir.relative_to(ROOT)})", flush=True)
        yield suite
    finally:
        # A second Ctrl-C must not cut the orderly stop short and leave children behind.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _STOP_SIGNALS}
        try:
            if suite.processes:
                print("suite: stopping", flush=True)
                suite.stop(grace=10)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@contextlib.contextmanager
def bench_session(title: str, args: argparse.Namespace) -> Iterator[tuple[BenchEnv, dict]]:
    """What every benchmark's main does around its measurement: signals, the bench environment
    and its header, the vhost and the database (made anew with --fresh), and the database
    dropped at the end with --drop-db. Yields the environment and the machine's description."""
    install_signal_handlers()
    benv = bench_env()
    machine = print_header(title)
    ensure_vhost(benv.settings.amqp_url)
    try:
        run_async(prepare_database(benv, fresh=args.fresh))
        yield benv, machine
    finally:
        if args.drop_db:
            run_async(drop_database(benv))


@contextlib.contextmanager
def suite_with_token(
    benv: BenchEnv, tenant: str = TENANT, *, scopes: str | None = None
) -> Iterator[tuple[Suite, str]]:
    """The running suite and an access token of a new client of `tenant`."""
    with running_suite(benv) as suite:
        credentials = provision(benv, tenant, scopes=scopes)
        yield suite, run_async(fetch_token(benv, credentials))


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install_signal_handlers() -> None:
    """SIGTERM behaves like Ctrl-C: it unwinds through every `finally` (the suite is stopped)."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    # Also when started with SIGINT ignored (a background job of a script): Ctrl-C must stop it.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def provision(benv: BenchEnv, tenant: str = TENANT, *, scopes: str | None = None) -> dict[str, str]:
    """`python -m auth_service tenants create [--scopes …]`, as an operator runs it: a new
    client each run."""
    options = ["--scopes", scopes] if scopes else []
    result = subprocess.run(
        [sys.executable, "-m", "auth_service", "tenants", "create", tenant, *options],
        env=benv.env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


async def fetch_token(benv: BenchEnv, credentials: dict[str, str]) -> str:
    tenant = credentials["tenant"]
    url = f"{benv.gateway_url}/auth/realms/{tenant}/protocol/openid-connect/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }
    async with aiohttp.ClientSession() as session, session.post(url, data=form) as response:
        if response.status != 200:
            text = await response.text()
            raise RuntimeError(f"token endpoint answered {response.status}: {text}")
        return (await response.json())["access_token"]


def run_main(main: Callable[[], int]) -> None:
    """Run a benchmark's main; Ctrl-C (or SIGTERM) ends it quietly with 130, suite stopped."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr, flush=True)
        code = 130
    raise SystemExit(code)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# ---------------------------------------------------------------------------- measurements


@dataclass
class Stats:
    """Latencies (seconds) of one measured run and its wall time."""

    latencies: list[float]
    elapsed: float
    errors: int = 0
    first_error: str | None = None
    rows: int = 0
    _sorted: list[float] = field(default_factory=list, repr=False)

    def pct(self, q: float) -> float:
        """Nearest-rank percentile, in seconds."""
        if not self._sorted:
            self._sorted = sorted(self.latencies)
        if not self._sorted:
            return float("nan")
        rank = max(1, min(len(self._sorted), round(q / 100 * len(self._sorted) + 0.5)))
        return self._sorted[rank - 1]

    @property
    def mean(self) -> float:
        return sum(self.latencies) / len(self.latencies) if self.latencies else float("nan")

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else float("nan")

    def summary(self) -> dict[str, float]:
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            "p50_ms": self.pct(50) * 1000,
            "p99_ms": self.pct(99) * 1000,
            "mean_ms": self.mean * 1000,
            "req_per_s": self.rps,
        }


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table; the first column left-aligned, numbers right-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            value.ljust(widths[i]) if i == 0 else value.rjust(widths[i])
            for i, value in enumerate(row)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# --------------------------------------------------------------------------- CPU accounting

_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    machine_busy: int
    machine_total: int
    groups: dict[str, int]
    children: float  # seconds of CPU used by waited-for children of this process (wrk)


class CpuMeter:
    """Who used the CPU during a window: the suite's services (by session = their PID), the
    PostgreSQL backends of the bench database, Redis, this process, and waited-for children."""

    def __init__(self, suite: Suite, database: str) -> None:
        self._sessions = {process.pid: name for name, process in suite.processes.items()}
        self._database = database.encode()

    def snapshot(self) -> CpuSnapshot:
        groups: dict[str, int] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
                group = self._group_of(int(entry.name), stat)
            except OSError:
                continue
            if group is None:
                continue
            fields = stat[stat.rindex(b")") + 2 :].split()
            groups[group] = groups.get(group, 0) + int(fields[11]) + int(fields[12])
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return CpuSnapshot(
            at=time.monotonic(),
            machine_busy=sum(values[:8]) - idle,
            machine_total=sum(values[:8]),
            groups=groups,
            children=children.ru_utime + children.ru_stime,
        )

    def _group_of(self, pid: int, stat: bytes) -> str | None:
        if pid == os.getpid():
            return "bench client"
        comm = stat[stat.index(b"(") + 1 : stat.rindex(b")")]
        fields = stat[stat.rindex(b")") + 2 :].split()
        session = int(fields[3])
        if session in self._sessions:
            return self._sessions[session]
        if comm.startswith(b"postgres"):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if self._database in f.read():
                    return "postgresql"
            return None
        if comm == b"redis-server":
            return "redis"
        return None

    @staticmethod
    def usage(before: CpuSnapshot, after: CpuSnapshot, child_name: str = "wrk") -> dict[str, float]:
        """Percent of one core per group (2 cores = 200%), plus `other` and `idle`."""
        seconds = after.at - before.at
        result: dict[str, float] = {}
        for name in sorted(set(before.groups) | set(after.groups)):
            ticks = after.groups.get(name, 0) - before.groups.get(name, 0)
            result[name] = 100 * ticks / _CLK_TCK / seconds
        child = after.children - before.children
        if child > 0:
            result[child_name] = 100 * child / seconds
        busy = after.machine_busy - before.machine_busy
        total = after.machine_total - before.machine_total
        cores = os.cpu_count() or 1
        machine_busy = 100 * cores * busy / total if total else 0.0
        result["other"] = max(0.0, machine_busy - sum(result.values()))
        result["idle"] = 100 * cores - machine_busy
        return result


NOISY_OTHER_PERCENT = 25


def disturbed(usage: dict[str, float]) -> bool:
    """Whether processes outside the benchmark took enough CPU to distort a run."""
    return usage.get("other", 0.0) > NOISY_OTHER_PERCENT


def print_disturbed(runs: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Name the measured runs (operation → path → its result with `cpu_percent`) during which
    other processes took too much CPU."""
    noisy = [
        f"{name} / {path}"
        for name, paths in runs.items()
        for path, result in paths.items()
        if disturbed(result["cpu_percent"])
    ]
    if noisy:
        print(
            f"!! other processes took > {NOISY_OTHER_PERCENT}% CPU during: "
            + ", ".join(noisy)
            + " (those numbers are disturbed; run again on a quiet machine)"
        )


def format_cpu(usage: dict[str, float]) -> str:
    order = ["wrk", "bench client", "bare", "pipe", "proxy", "gateway", "customer_service",
             "auth_service", "impex_worker", "postgresql", "redis", "other", "idle"]  # fmt: skip
    parts = [f"{name} {usage[name]:.0f}%" for name in order if usage.get(name, 0) >= 0.5]
    return f"CPU (% of one core, {os.cpu_count()} cores = {100 * (os.cpu_count() or 1)}%): " + (
        " · ".join(parts)
    )


# -------------------------------------------------------------------------------- reporting


def machine_summary() -> dict[str, Any]:
    cpu_model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    os_name = platform.platform()
    with contextlib.suppress(OSError), open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip().strip('"')
    return {
        "host": platform.node(),
        "cpu": cpu_model,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": os_name,
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
    }


def print_header(title: str) -> dict[str, Any]:
    machine = machine_summary()
    print(f"\n=== {title} — {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}", flush=True)
    print(
        f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB RAM, "
        f"{machine['os']}, Python {machine['python']}; load average "
        f"{' '.join(f'{v:.2f}' for v in machine['loadavg_at_start'])}",
        flush=True,
    )
    print(
        f"note: the load generator, the gateway, customer_service, PostgreSQL and Redis all share "
        f"these {machine['cores']} cores; numbers are for comparison within one run, not capacity.",
        flush=True,
    )
    return machine


async def postgres_version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        version = await conn.fetchval("SHOW server_version")
        buffers = await conn.fetchval("SHOW shared_buffers")
        wal = await conn.fetchval("SHOW max_wal_size")
        fits = await conn.fetchval(
            "SELECT pg_database_size(current_database())"
            " <= pg_size_bytes(current_setting('shared_buffers'))"
        )
    finally:
        await conn.close()
    line = f"PostgreSQL {version} (shared_buffers {buffers}, max_wal_size {wal})"
    if not fits:
        # Write-heavy figures (the batch) depend on it most: README, the collection's third pass.
        line += "; note: the bench database is larger than shared_buffers"
    return line


def save_results(name: str, results: dict[str, Any]) -> Path:
    """The run's numbers as JSON in .run/bench/results/<name>.json (the last run wins), and
    where they went printed."""
    path = RUN_DIR / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nresults: {path.relative_to(ROOT)}")
    return path


def _main() -> int:
    """`python -m bench.harness --drop-db`: drop the bench database (the seed goes with it)."""
    parser = argparse.ArgumentParser(prog="python -m bench.harness", description=_main.__doc__)
    parser.add_argument("--drop-db", action="store_true", required=True)
    parser.parse_args()
    run_async(drop_database(bench_env()))
    return 0


if __name__ == "__main__":
    run_main(_main)
