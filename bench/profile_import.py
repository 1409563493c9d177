"""Where an import's time goes: one batch imported in this process by the worker's own
`BatchRunner` (no gateway, no queue), with the wall time of every step of a chunk summed over
the run, and PostgreSQL's own per-statement figures when `pg_stat_statements` is loaded.

The shared PostgreSQL does not preload pg_stat_statements and must not be restarted: run a
private cluster for the statement figures, e.g.

    initdb -D /tmp/pg -A trust -U postgres
    pg_ctl -D /tmp/pg -o "-p 55460 -k /tmp/pg -c shared_preload_libraries=pg_stat_statements \\
        -c pg_stat_statements.track=all" -l /tmp/pg/log start
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:55460/customer_suite_bench \\
        py-spy record -o import.svg -- .venv/bin/python -m bench.profile_import --rows 200000

Without it the steps are still timed. Run it under `flock /tmp/cs-bench.lock` like a bench.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench import dataset, harness
from bench.bench_import import DEFAULT_NEIGHBOUR, NEIGHBOUR, TENANT, clean, generate
from customer_service.imports.service import ImportService
from impex_worker.imports import runner as runner_module
from impex_worker.imports.runner import BatchRunner
from impex_worker.imports.setup import GC_THRESHOLDS, SWITCH_INTERVAL_SECONDS
from impex_worker.imports.validation import Validator
from shared import db
from shared.imports import chunks
from shared.migrations import migrate_all

SPENT: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def _timed_async(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - started
            CALLS[name] += 1

    return wrapper


def _timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - started
            CALLS[name] += 1

    return wrapper


def instrument() -> None:
    """Time each step the runner takes (module attributes it looks up at call time)."""
    for name in (
        "lock_batch", "fetch_matches", "write_customers", "add_row_errors", "add_events",
        "advance", "refresh_statistics", "set_total",
    ):  # fmt: skip
        setattr(chunks, name, _timed_async(f"sql {name}", getattr(chunks, name)))
    for name in ("attach_waiting_facts",):
        if hasattr(runner_module, name):
            setattr(runner_module, name, _timed_async(f"sql {name}", getattr(runner_module, name)))
    for name in ("plan_chunk", "imported_events", "lookup_keys"):
        if hasattr(runner_module, name):
            setattr(runner_module, name, _timed(f"cpu {name}", getattr(runner_module, name)))
    BatchRunner._write = _timed_async("chunk transaction (all of _write)", BatchRunner._write)
    BatchRunner._count = _timed_async("count pass", BatchRunner._count)
    transaction = runner_module.tenant_transaction

    @contextlib.asynccontextmanager
    async def timed_transaction(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        started = time.perf_counter()
        manager = transaction(*args, **kwargs)
        conn = await manager.__aenter__()
        SPENT["sql begin (tenant transaction)"] += time.perf_counter() - started
        try:
            yield conn
        except BaseException as exc:
            if not await manager.__aexit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            started = time.perf_counter()
            await manager.__aexit__(None, None, None)
            SPENT["sql commit"] += time.perf_counter() - started

    runner_module.tenant_transaction = timed_transaction


def app_dsn(dsn: str) -> str:
    """The same database as the worker's login (customer_suite_app: row-level security on)."""
    parts = urlsplit(dsn)
    host = parts.netloc.split("@")[-1]
    return urlunsplit(parts._replace(netloc=f"customer_suite_app@{host}"))


async def file_pieces(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while block := file.read(1024 * 1024):
            yield block


async def profile(dsn: str, source: Path, rows: int, chunk_records: int) -> None:
    admin = await asyncpg.connect(dsn)
    pool = await db.create_pool(app_dsn(dsn), min_size=2, max_size=4, command_timeout=300)
    service = ImportService(pool)
    batch = await service.create_batch(TENANT, None)
    await service.upload_file(TENANT, batch["id"], "text/csv", file_pieces(source))
    await service.change_state(TENANT, {"batchId": batch["id"], "state": "READY"})
    statements = await admin.fetchval(
        "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
    )
    if not statements:
        with contextlib.suppress(asyncpg.PostgresError):
            await admin.execute("CREATE EXTENSION pg_stat_statements")
            statements = 1
    if statements:
        try:
            await admin.execute("SELECT pg_stat_statements_reset()")
        except asyncpg.PostgresError:
            statements = 0
    validator = Validator()
    runner = BatchRunner(
        pool, drop_dir="/nonexistent", validator=validator, chunk_records=chunk_records
    )
    instrument()
    gc.set_threshold(*GC_THRESHOLDS)  # as the worker runs
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    started = time.perf_counter()
    state = await runner.run(TENANT, uuid.UUID(batch["id"]))
    elapsed = time.perf_counter() - started
    validator.close()
    print(f"\n{rows:,} rows: {state} in {elapsed:.1f} s ({rows / elapsed:,.0f} rows/s)")
    print(harness.table(
        ["step (wall time, summed)", "calls", "seconds", "% of the run"],
        [[name, CALLS.get(name, ""), seconds, seconds / elapsed * 100]
         for name, seconds in sorted(SPENT.items(), key=lambda item: -item[1])],
    ))  # fmt: skip
    if statements:
        found = await admin.fetch(
            """
            SELECT calls, rows, round(total_exec_time::numeric / 1000, 2) AS seconds,
                   round((total_exec_time / greatest(rows, 1) * 1000)::numeric, 1) AS us_per_row,
                   left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query
            FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 20
            """
        )
        print("\npg_stat_statements (track = all: statements inside functions and triggers too)")
        print(harness.table(
            ["calls", "rows", "seconds", "µs/row", "statement"],
            [[r["calls"], r["rows"], float(r["seconds"]), float(r["us_per_row"]), r["query"]]
             for r in found],
        ))  # fmt: skip
    else:
        print("\n(pg_stat_statements is not loaded on this server: no per-statement figures)")
    await pool.close()
    await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--neighbour", type=int, default=DEFAULT_NEIGHBOUR)
    parser.add_argument("--chunk", type=int, default=runner_module.CHUNK_RECORDS)
    args = parser.parse_args()
    benv = harness.bench_env()
    dsn = benv.database_url
    folder = harness.RUN_DIR / "data"
    folder.mkdir(parents=True, exist_ok=True)
    asyncio.run(migrate_all(dsn, dsn))
    if args.neighbour:
        asyncio.run(dataset.ensure_seeded(dsn, NEIGHBOUR, args.neighbour))
    source, _ = generate(args.rows, folder)
    asyncio.run(clean(dsn))
    asyncio.run(profile(dsn, source, args.rows, args.chunk))
    asyncio.run(clean(dsn))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
