"""Issue 3's benchmark: customer lookups among 1,000,000 customers of one tenant.

get-by-id, get-by-email, get-by-ref and search-by-last-name, each over random existing keys at a
fixed concurrency, measured four ways in the same run:

  gateway           HTTP through the gateway (token check, rate-limit script, proxy) — what
                    clients get
  customer_service  HTTP straight to customer_service (it verifies the same token itself)
  SQL, as service   the SELECT customer_service runs, inside the same tenant transaction it opens
                    (BEGIN; set role and app.tenant; SELECT; COMMIT), same pool codecs
  SQL, bare         the same SELECT alone on a pooled connection (as the table owner, no RLS)

The SQL comes from customer_service.repository itself (captured, not copied). EXPLAIN ANALYZE of
each lookup, run as customer_service runs it (app role, row-level security), shows index use.

    python -m bench.bench_lookups [--requests 3000] [--concurrency 8] [--customers N] [--fresh]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg
import orjson
from yarl import URL

from bench import dataset, harness
from bench.harness import TENANT, BenchEnv, CpuMeter, Stats
from customer_service import repository
from shared import db

PUBLIC_PREFIX = "/services/customerservice"


@dataclass(frozen=True)
class Lookup:
    name: str
    column: str  # where the random keys come from
    kind: str  # a repository.SELECT_BY kind, or "search"

    def path(self, key: str) -> str:
        """The upstream path (customer_service's); the gateway's is PUBLIC_PREFIX + this."""
        base = "/api/v2/customers"
        if self.kind == "id":
            return f"{base}/{quote(key, safe='')}"
        if self.kind == "email":
            return f"{base}/{quote(key, safe='@')}/email"
        if self.kind == "customerRef":
            return f"{base}/{quote(key, safe='')}/ref"
        return f"{base}/search?lastName={quote(key, safe='')}"


LOOKUPS = (
    Lookup("get-by-id", "id", "id"),
    Lookup("get-by-email", "email", "email"),
    Lookup("get-by-ref", "customer_ref", "customerRef"),
    Lookup("search-by-last-name", "last_name", "search"),
)
PATHS = ("gateway", "customer_service", "SQL, as service", "SQL, bare")


async def sql_lookup(conn: Any, lookup: Lookup, key: str) -> int:
    """customer_service's own query for this lookup; the number of rows it returned."""
    if lookup.kind == "search":
        return len(await repository.search(conn, TENANT, {"lastName": key}))
    value: Any = uuid.UUID(key) if lookup.kind == "id" else key
    return 0 if await repository.fetch_by(conn, TENANT, lookup.kind, value) is None else 1


class _CapturingConnection:
    """Stands in for a connection to learn the exact SQL and arguments a repository call sends."""

    query = ""
    args: tuple = ()

    async def fetchrow(self, query: str, *args: Any) -> None:
        self.query, self.args = query, args

    async def fetch(self, query: str, *args: Any) -> list:
        self.query, self.args = query, args
        return []


async def measure(
    call: Callable[[str], Awaitable[int]],
    keys: Sequence[str],
    concurrency: int,
    *,
    max_seconds: float = float("inf"),
) -> Stats:
    """`call(key)` for every key by `concurrency` workers, or until `max_seconds` have passed;
    a key without rows is an error."""
    latencies: list[float] = []
    stats = Stats(latencies=latencies, elapsed=0.0)
    pending = iter(keys)
    deadline = time.perf_counter() + max_seconds

    async def worker() -> None:
        for key in pending:
            started = time.perf_counter()
            if started > deadline:
                return
            try:
                rows = await call(key)
            except Exception as exc:
                stats.errors += 1
                stats.first_error = stats.first_error or f"{type(exc).__name__}: {exc}"[:300]
                continue
            latencies.append(time.perf_counter() - started)
            stats.rows += rows
            if rows == 0:
                stats.errors += 1
                stats.first_error = stats.first_error or f"no rows for {key!r}"

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    stats.elapsed = time.perf_counter() - started
    return stats


class BadResponse(Exception):
    pass


def http_caller(
    session: aiohttp.ClientSession, base: str, lookup: Lookup
) -> Callable[[str], Awaitable[int]]:
    async def call(key: str) -> int:
        async with session.get(URL(base + lookup.path(key), encoded=True)) as response:
            body = await response.read()
            if response.status != 200:
                raise BadResponse(f"HTTP {response.status}: {body[:200]!r}")
        return len(orjson.loads(body)) if lookup.kind == "search" else 1

    return call


def sql_caller(
    pool: asyncpg.Pool, lookup: Lookup, *, as_service: bool
) -> Callable[[str], Awaitable[int]]:
    async def as_the_service(key: str) -> int:
        async with db.tenant_transaction(pool, TENANT) as conn:
            return await sql_lookup(conn, lookup, key)

    async def bare(key: str) -> int:
        async with pool.acquire() as conn:
            return await sql_lookup(conn, lookup, key)

    return as_the_service if as_service else bare


# ----------------------------------------------------------------------------------- EXPLAIN


def _node_shape(plan: list[str]) -> list[str]:
    nodes = []
    for line in plan:
        text = line.strip().removeprefix("->").strip()
        node = re.split(r"\s+\((?:actual|cost)", text)[0]
        # Skip "Index Cond: …", "Buffers: …" and the Result node row-level security adds.
        if not node or node[0].islower() or ":" in node or node == "Result":
            continue
        nodes.append(node)
    return nodes


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


async def explain(pool: asyncpg.Pool, lookup: Lookup, key: str) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the lookup as customer_service runs it (app role, row-level security,
    a prepared statement), and the generic plan a prepared statement may switch to after five
    executions."""
    captured = _CapturingConnection()
    await sql_lookup(captured, lookup, key)
    execute = f"EXECUTE bench_plan({', '.join(_literal(arg) for arg in captured.args)})"
    async with db.tenant_transaction(pool, TENANT) as conn:
        await conn.execute(f"PREPARE bench_plan AS {captured.query}")
        try:
            custom = [
                row[0]
                for row in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {execute}")
            ]
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            generic = [row[0] for row in await conn.fetch(f"EXPLAIN (COSTS OFF) {execute}")]
        finally:
            await conn.execute("DEALLOCATE bench_plan")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"PREPARE bench_plan AS {captured.query}")
        try:
            owner = [row[0] for row in await conn.fetch(f"EXPLAIN (COSTS OFF) {execute}")]
        finally:
            await conn.execute("DEALLOCATE bench_plan")
    return {
        "query": " ".join(captured.query.split()),
        "plan": custom,
        "generic_plan": generic,
        "generic_same_shape": _node_shape(custom) == _node_shape(generic),
        "owner_plan": owner,
        "owner_same_shape": _node_shape(custom) == _node_shape(owner),
    }


def print_explain(lookup: Lookup, result: dict[str, Any]) -> None:
    print(f"\n-- {lookup.name}: {result['query']}")
    for line in result["plan"]:
        print(f"   {line}")
    if result["generic_same_shape"]:
        print("   (generic plan: the same nodes)")
    else:
        print("   generic plan (prepared statement after 5 runs):")
        for line in result["generic_plan"]:
            print(f"     {line}")
    if result["owner_same_shape"]:
        print("   (as the table owner, without row-level security: the same nodes)")
    else:
        print("   !! as the table owner, without row-level security, the plan differs:")
        for line in result["owner_plan"]:
            print(f"     {line}")


# -------------------------------------------------------------------------------------- run


async def sample_keys(pool: asyncpg.Pool, count: int) -> dict[str, list[str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT id::text AS id, email, customer_ref, last_name FROM customer.customers
            WHERE tenant_id = $1 AND NOT deleted ORDER BY random() LIMIT $2
            """,
            TENANT,
            count,
        )
    keys = {}
    for lookup in LOOKUPS:
        values = [row[lookup.column] for row in rows]
        random.shuffle(values)
        keys[lookup.name] = values
    return keys


async def table_sizes(pool: asyncpg.Pool) -> str:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """
            SELECT pg_size_pretty(pg_table_size('customer.customers')) AS heap,
                   pg_size_pretty(pg_indexes_size('customer.customers')) AS indexes
            """
        )
    return f"customer.customers: {row['heap']} heap + {row['indexes']} indexes"


async def run(
    benv: BenchEnv, meter: CpuMeter, token: str, args: argparse.Namespace
) -> dict[str, Any]:
    concurrency, requests = args.concurrency, args.requests
    pool = await db.create_pool(benv.database_url, min_size=0, max_size=concurrency)
    headers = {"Authorization": f"Bearer {token}", "X-TWC-Tenant": TENANT}
    sessions = {
        name: aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        for name in ("gateway", "customer_service")
    }
    bases = {"gateway": benv.gateway_url + PUBLIC_PREFIX, "customer_service": benv.service_url}
    results: dict[str, Any] = {"lookups": {}, "explain": {}}
    try:
        print(await table_sizes(pool), flush=True)
        keys = await sample_keys(pool, requests)
        for lookup in LOOKUPS:
            results["explain"][lookup.name] = await explain(pool, lookup, keys[lookup.name][0])
            print_explain(lookup, results["explain"][lookup.name])

        # Every measured path then finds the same pages in memory.
        print("\nwarming up (each key once, bare SQL) …", flush=True)
        for lookup in LOOKUPS:
            await measure(
                sql_caller(pool, lookup, as_service=False), keys[lookup.name], 8, max_seconds=60
            )

        print(
            f"measuring {requests:,} requests per lookup and path (at most {args.max_seconds:.0f}"
            f" s each), concurrency {concurrency}",
            flush=True,
        )
        for lookup in LOOKUPS:
            results["lookups"][lookup.name] = {}
            for path in PATHS:
                if path in sessions:
                    call = http_caller(sessions[path], bases[path], lookup)
                else:
                    call = sql_caller(pool, lookup, as_service=path == "SQL, as service")
                warmup = keys[lookup.name][: args.warmup]
                await measure(call, warmup, concurrency, max_seconds=args.max_seconds / 6)
                before = meter.snapshot()
                stats = await measure(
                    call, keys[lookup.name], concurrency, max_seconds=args.max_seconds
                )
                cpu = CpuMeter.usage(before, meter.snapshot())
                results["lookups"][lookup.name][path] = {
                    **stats.summary(),
                    "rows_per_request": stats.rows / max(1, len(stats.latencies)),
                    "first_error": stats.first_error,
                    "cpu_percent": cpu,
                }
                print(
                    f"  {lookup.name:<20} {path:<17} p50 {stats.pct(50) * 1000:7.2f} ms  "
                    f"p99 {stats.pct(99) * 1000:7.2f} ms  {stats.rps:7.0f} req/s  "
                    f"n {len(stats.latencies)}"
                    + (f"  errors {stats.errors} ({stats.first_error})" if stats.errors else ""),
                    flush=True,
                )
    finally:
        for session in sessions.values():
            await session.close()
        await pool.close()
    return results


def report(results: dict[str, Any], concurrency: int) -> None:
    rows = []
    for name, paths in results["lookups"].items():
        for path, r in paths.items():
            rows.append(
                [name if path == PATHS[0] else "", path, r["p50_ms"], r["p99_ms"], r["mean_ms"],
                 r["req_per_s"], r["requests"], r["rows_per_request"], r["errors"]]
            )  # fmt: skip
    print(f"\nLatency per lookup (concurrency {concurrency}; ms; req/s at that concurrency)")
    print(
        harness.table(
            ["lookup", "path", "p50 ms", "p99 ms", "mean ms", "req/s", "n", "rows/req", "errors"],
            rows,
        )
    )

    ratio_rows = []
    for name, p in results["lookups"].items():
        gw, svc = p["gateway"], p["customer_service"]
        txn, bare = p["SQL, as service"], p["SQL, bare"]
        ratio_rows.append(
            [name, gw["p50_ms"] / bare["p50_ms"], gw["p99_ms"] / bare["p99_ms"],
             gw["p50_ms"] / txn["p50_ms"], gw["p50_ms"] / svc["p50_ms"],
             svc["req_per_s"] and gw["req_per_s"] / svc["req_per_s"] * 100]
        )  # fmt: skip
    print("\nRatios (gateway / direct: how many times slower)")
    print(
        harness.table(
            ["lookup", "gw/SQL p50", "gw/SQL p99", "gw/SQL-as-service p50", "gw/service p50",
             "gw req/s as % of service"],
            ratio_rows,
        )
    )  # fmt: skip

    print("\nWhere the time goes (p50, ms): SELECT | + tenant transaction | + service HTTP/auth/"
          "render | + gateway hop")  # fmt: skip
    for name, p in results["lookups"].items():
        bare, txn = p["SQL, bare"]["p50_ms"], p["SQL, as service"]["p50_ms"]
        svc, gw = p["customer_service"]["p50_ms"], p["gateway"]["p50_ms"]
        print(
            f"  {name:<20} {bare:7.2f} | {txn - bare:+7.2f} | {svc - txn:+7.2f} | "
            f"{gw - svc:+7.2f}  = {gw:7.2f}"
        )

    print("\nCPU during each measured run (% of one core; 2 cores = 200%)")
    groups = ["bench client", "gateway", "customer_service", "postgresql", "redis", "other", "idle"]
    cpu_rows = []
    for name, paths in results["lookups"].items():
        for path, r in paths.items():
            cpu = r["cpu_percent"]
            cpu_rows.append(
                [name if path == PATHS[0] else "", path, *(cpu.get(g, 0.0) for g in groups)]
            )
    print(harness.table(["lookup", "path", *groups], cpu_rows))
    harness.print_disturbed(results["lookups"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_common_arguments(parser)
    parser.add_argument("--requests", type=int, default=3000, help="per lookup and path")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests per path")
    parser.add_argument(
        "--max-seconds", type=float, default=60, help="time budget per lookup and path"
    )
    args = parser.parse_args()

    with harness.bench_session("bench_lookups: customer lookups (issue 3)", args) as (
        benv,
        machine,
    ):
        harness.run_async(dataset.ensure_seeded(benv.database_url, TENANT, args.customers))
        print(harness.run_async(harness.postgres_version(benv.database_url)), flush=True)
        with harness.suite_with_token(benv) as (suite, token):
            meter = CpuMeter(suite, harness.BENCH_NAME)
            results = harness.run_async(run(benv, meter, token, args))
        report(results, args.concurrency)
        harness.save_results(
            "bench_lookups",
            {"machine": machine, "customers": args.customers, "concurrency": args.concurrency,
             "requests": args.requests, **results},
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    harness.run_main(main)
