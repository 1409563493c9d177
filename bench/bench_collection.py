"""Issue 14's benchmark: the customer collection among 1,000,000 customers of one tenant,
beside a neighbour tenant of 500,000 (API.md §7, §8).

Each operation over random inputs at a fixed concurrency, measured two ways in the same run:

  gateway   HTTP through the gateway (token check, rate-limit script, proxy) — what clients get
  SQL       customer_service's own repository calls for it, inside the tenant transaction it
            opens (for the batch: the batch use case itself, without HTTP)

and, for the two operations that miss their targets, a floor: the plainest statements that do
the same work, on a plain asyncpg pool as the table's owner (no row-level security, no
validation, no merge in Python, no HTTP):

  SQL floor (batch-100)     per item one transaction: an UPDATE by customerRef that merges the
                            item's attribute group in SQL and returns the row, and its outbox
                            row; the batch's 100 items one after another on one connection
  SQL plain (query-search)  count(*) of up to 1,001 rows whose search_text is LIKE the pattern,
                            then the first 20 of them in createdDate order, as PostgreSQL plans
                            the two statements on its own

  list-page          GET /customers, pageSize 20, any sortBy, either direction, page 0-50
  count-filtered     GET /customers/count with one filter (lastName, firstName, email,
                     customerRef or createdSince within 60 days)
  count-all          GET /customers/count, no filter (the kept counter; the bare count(*) scan
                     it replaces is measured beside it as "SQL scan")
  query-search       POST /customers/search {"query": 3 characters of a random last name}
  batch-100          POST /customers/batch with 100 updates of random customers, fresh values
                     for every run of every path (a replayed batch would change nothing)

The issue's targets (p99): list-page < 25 ms, count-filtered < 25 ms, count-all < 150 ms,
query-search < 60 ms, batch-100 < 400 ms.

    python -m bench.bench_collection [--requests 1000] [--concurrency 8] [--customers N]
        [--neighbour N] [--operations NAME ...] [--fresh]
"""

from __future__ import annotations

import argparse
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus, urlencode

import aiohttp
import asyncpg
import orjson

from bench import dataset, harness
from bench.bare_service import init_connection
from bench.bench_lookups import PUBLIC_PREFIX, BadResponse, measure
from bench.harness import TENANT, BenchEnv, CpuMeter
from customer_service.batch.service import BatchService
from customer_service.collection import params
from customer_service.collection import repository as collection
from customer_service.repository import CUSTOMER_COLUMNS
from customer_service.service import CustomerService
from shared import db
from shared.amqp import CUSTOMER_EVENTS_EXCHANGE
from shared.orders import service as orders
from shared.outbox import INSERT_OUTBOX
from shared.timefmt import utcnow

NEIGHBOUR = "bench_neighbour"
TARGETS_MS = {
    "list-page": 25,
    "count-filtered": 25,
    "count-all": 150,
    "query-search": 60,
    "batch-100": 400,
}
PATHS = ("gateway", "SQL")
Request = tuple[str, str, Any]  # method, upstream path with query, JSON body


async def _sample(pool: asyncpg.Pool, count: int) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch(
            """
            SELECT email, customer_ref, first_name, last_name FROM customer.customers
            WHERE tenant_id = $1 AND NOT deleted ORDER BY random() LIMIT $2
            """,
            TENANT,
            count,
        )


async def _vacuum(dsn: str) -> None:
    """The state autovacuum keeps a busy table in (0019 has it run after 1% of the customers
    changed): the previous run's batches left up to 20,000 updated rows, which would read as
    index-only counts fetching table pages and a trigram index with a long pending list. Then a
    checkpoint, so that writing out those pages (and the previous run's) is not left to a timed
    checkpoint in the middle of a measurement."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM (ANALYZE) customer.customers, customer.modified_order")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def _list_requests(rng: random.Random, n: int) -> list[Request]:
    requests = []
    for _ in range(n):
        query = {
            "sortBy": rng.choice(list(params.SORT_COLUMNS)),
            "sortDirection": rng.choice(("ASC", "DESC")),
            "page": rng.randrange(51),
            "pageSize": 20,
        }
        requests.append(("GET", f"/api/v2/customers?{urlencode(query)}", None))
    return requests


def _count_requests(rng: random.Random, rows: list[asyncpg.Record]) -> list[Request]:
    requests = []
    now = datetime.now(UTC)
    for row in rows:
        kind = rng.choice(("lastName", "firstName", "email", "customerRef", "createdSince"))
        value = {
            "lastName": row["last_name"],
            "firstName": row["first_name"],
            "email": row["email"],
            "customerRef": row["customer_ref"],
            "createdSince": (now - timedelta(days=rng.randint(1, 60))).isoformat(),
        }[kind]
        requests.append(("GET", f"/api/v2/customers/count?{urlencode({kind: value})}", None))
    return requests


def _search_requests(rng: random.Random, rows: list[asyncpg.Record], n: int) -> list[Request]:
    """3 characters of a random customer's last name; a name shorter than that ("Li") would be
    a 400 (a query needs 3), so such customers are passed over."""
    names = [row["last_name"].lower() for row in rows if len(row["last_name"]) >= 3]
    requests = []
    for i in range(n):
        name = names[i % len(names)]
        start = rng.randrange(len(name) - 2)
        requests.append(("POST", "/api/v2/customers/search", {"query": name[start : start + 3]}))
    return requests


def _batch_requests(rng: random.Random, rows: list[asyncpg.Record], n: int) -> list[Request]:
    requests = []
    for i in range(n):
        items = [
            {
                "customerRef": row["customer_ref"],
                "attributeGroups": {"bench": {"attributes": {"run": f"{i}-{rng.random()}"}}},
            }
            for row in rng.sample(rows, 100)
        ]
        requests.append(("POST", "/api/v2/customers/batch", {"update": items}))
    return requests


def http_caller(session: aiohttp.ClientSession, base: str) -> Callable[[Request], Awaitable[int]]:
    async def call(request: Request) -> int:
        method, path, body = request
        async with session.request(method, base + path, json=body) as response:
            data = await response.read()
            if response.status != 200:
                raise BadResponse(f"HTTP {response.status}: {data[:200]!r}")
        return 1

    return call


def sql_caller(pool: asyncpg.Pool) -> Callable[[Request], Awaitable[int]]:
    """The repository calls customer_service makes for the request, in its tenant transaction
    (the batch through its use case: one transaction per item, as served)."""
    batches = BatchService(CustomerService(pool), slots=pool.get_max_size())

    async def call(request: Request) -> int:
        _, path, body = request
        path, _, raw_query = path.partition("?")
        query = dict(pair.split("=", 1) for pair in raw_query.split("&") if pair)
        query = {k: unquote_plus(v) for k, v in query.items()}
        if path.endswith("/batch"):
            status, _ = await batches.run(TENANT, body)
            if status != 200:
                raise BadResponse(f"batch {status}")
            return 1
        async with db.tenant_transaction(pool, TENANT) as conn:
            if path.endswith("/count"):
                await collection.count(conn, TENANT, params.filters_of(query))
            elif path.endswith("/search"):
                await collection.search_page(
                    conn, TENANT, params.search_of(body), params.sort_of(query),
                    params.page_of(query), orders.window_since(utcnow()),
                )  # fmt: skip
            else:
                await collection.list_page(
                    conn, TENANT, [], params.sort_of(query), params.page_of(query),
                    orders.window_since(utcnow()),
                )  # fmt: skip
        return 1

    return call


# The batch floor's write: the item's attribute group merged in SQL, the row returned.
FLOOR_UPDATE = f"""
UPDATE customer.customers SET
    profile = jsonb_set(
        profile, '{{attributeGroups}}', coalesce(profile->'attributeGroups', '{{}}') || $3::jsonb
    ),
    last_modified_at = $4
WHERE tenant_id = $1 AND customer_ref = $2 AND NOT deleted
RETURNING {CUSTOMER_COLUMNS}
"""
PLAIN_SEARCH_COUNT = (
    "SELECT count(*) FROM (SELECT FROM customer.customers WHERE tenant_id = $1 AND NOT deleted"
    " AND search_text LIKE $2 LIMIT $3) AS m"
)
PLAIN_SEARCH_PAGE = (
    f"SELECT {CUSTOMER_COLUMNS} FROM customer.customers WHERE tenant_id = $1 AND NOT deleted"
    " AND search_text LIKE $2 ORDER BY created_at, id LIMIT 20"
)


def batch_floor_caller(plain: asyncpg.Pool) -> Callable[[Request], Awaitable[int]]:
    """The batch's floor (see the module's docstring)."""

    async def call(request: Request) -> int:
        results = []
        async with plain.acquire() as conn:
            for item in request[2]["update"]:
                now = utcnow()
                async with conn.transaction():
                    row = await conn.fetchrow(
                        FLOOR_UPDATE, TENANT, item["customerRef"], item["attributeGroups"], now
                    )
                    event = {"eventId": str(uuid.uuid4()), "type": "customer.updated",
                             "tenant": TENANT, "customer": {"id": str(row["id"])}}  # fmt: skip
                    await conn.execute(
                        INSERT_OUTBOX, uuid.uuid4(), TENANT, CUSTOMER_EVENTS_EXCHANGE,
                        event["type"], event, None,
                    )  # fmt: skip
                results.append(dict(row))
        orjson.dumps(results, default=str)
        return 1

    return call


def plain_search_caller(plain: asyncpg.Pool) -> Callable[[Request], Awaitable[int]]:
    """The query search's plain statements (see the module's docstring)."""

    async def call(request: Request) -> int:
        pattern = params.search_of(request[2]).pattern
        async with plain.acquire() as conn:
            await conn.fetchval(
                PLAIN_SEARCH_COUNT, TENANT, pattern, collection.SEARCH_TOTAL_CAP + 1
            )
            await conn.fetch(PLAIN_SEARCH_PAGE, TENANT, pattern)
        return 1

    return call


def count_scan_caller(pool: asyncpg.Pool) -> Callable[[Request], Awaitable[int]]:
    """What a bare total cost before the kept counter: count(*) of the tenant's live rows."""
    sql, _ = collection.count_statement([])

    async def call(_request: Request) -> int:
        async with db.tenant_transaction(pool, TENANT) as conn:
            await conn.fetchval(sql, TENANT)
        return 1

    return call


async def run(
    benv: BenchEnv, meter: CpuMeter, token: str, args: argparse.Namespace
) -> dict[str, Any]:
    concurrency, n = args.concurrency, args.requests
    rng = random.Random(14)
    pool = await db.create_pool(benv.database_url, min_size=0, max_size=concurrency)
    plain = await asyncpg.create_pool(
        benv.database_url, min_size=1, max_size=concurrency, init=init_connection
    )
    session = aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {token}", "X-TWC-Tenant": TENANT},
        connector=aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=60),
    )
    base = benv.gateway_url + PUBLIC_PREFIX
    results: dict[str, Any] = {"operations": {}}
    try:
        rows = await _sample(pool, max(n, 1000))
        batch_rows = await _sample(pool, 100 * args.batches)
        operations: dict[str, list[Request]] = {
            "list-page": _list_requests(rng, n),
            "count-filtered": _count_requests(rng, rows[:n]),
            "count-all": [("GET", "/api/v2/customers/count", None)] * n,
            "query-search": _search_requests(rng, rows, n),
            # Customers of the whole tenant, as unrelated clients' batches name them: drawn from
            # 1,000 customers, eight concurrent batches named the same ones again and again and
            # waited on each other's row locks.
            "batch-100": _batch_requests(rng, batch_rows, args.batches),
        }
        print(
            f"measuring {n:,} requests per operation and path ({args.batches} batches; at most "
            f"{args.max_seconds:.0f} s each), concurrency {concurrency}",
            flush=True,
        )
        for name, requests in operations.items():
            if args.operations and name not in args.operations:
                continue
            results["operations"][name] = {}
            paths: dict[str, Callable[[Request], Awaitable[int]]] = {
                "gateway": http_caller(session, base),
                "SQL": sql_caller(pool),
            }
            if name == "count-all":
                paths["SQL scan"] = count_scan_caller(pool)
            elif name == "batch-100":
                paths["SQL floor"] = batch_floor_caller(plain)
            elif name == "query-search":
                paths["SQL plain"] = plain_search_caller(plain)
            for path, call in paths.items():
                warmup, measured = requests[: args.warmup], requests
                if name == "batch-100":
                    # Fresh values for every run of every path: a batch sent again would set what
                    # is already stored, and an update that changes nothing writes nothing.
                    warmup = _batch_requests(rng, batch_rows, min(args.warmup, args.batches))
                    measured = _batch_requests(rng, batch_rows, args.batches)
                await measure(call, warmup, concurrency, max_seconds=args.max_seconds / 6)
                before = meter.snapshot()
                stats = await measure(call, measured, concurrency, max_seconds=args.max_seconds)
                cpu = CpuMeter.usage(before, meter.snapshot())
                results["operations"][name][path] = {
                    **stats.summary(),
                    "first_error": stats.first_error,
                    "cpu_percent": cpu,
                }
                print(
                    f"  {name:<15} {path:<9} p50 {stats.pct(50) * 1000:8.2f} ms  "
                    f"p99 {stats.pct(99) * 1000:8.2f} ms  {stats.rps:7.0f} req/s  "
                    f"n {len(stats.latencies)}"
                    + (f"  errors {stats.errors} ({stats.first_error})" if stats.errors else ""),
                    flush=True,
                )
    finally:
        await session.close()
        await pool.close()
        await plain.close()
    return results


def report(results: dict[str, Any], concurrency: int) -> None:
    rows = []
    for name, paths in results["operations"].items():
        gateway = paths["gateway"]
        for path, r in paths.items():
            rows.append(
                [name if path == "gateway" else "", path, r["p50_ms"], r["p99_ms"], r["mean_ms"],
                 r["req_per_s"], r["requests"], r["errors"],
                 TARGETS_MS[name] if path == "gateway" else "",
                 "" if path == "gateway" else gateway["p50_ms"] / r["p50_ms"]]
            )  # fmt: skip
    print(f"\nThe customer collection (concurrency {concurrency}; ms; req/s at that concurrency)")
    print(
        harness.table(
            ["operation", "path", "p50 ms", "p99 ms", "mean ms", "req/s", "n", "errors",
             "target p99", "gateway/path p50"],
            rows,
        )
    )  # fmt: skip
    harness.print_disturbed(results["operations"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_common_arguments(parser)
    parser.add_argument("--neighbour", type=int, default=None, help="default: customers / 2")
    parser.add_argument("--requests", type=int, default=1000, help="per operation and path")
    parser.add_argument("--batches", type=int, default=100, help="100-item batches per path")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests per path")
    parser.add_argument("--max-seconds", type=float, default=45, help="per operation and path")
    parser.add_argument(
        "--operations", nargs="*", choices=list(TARGETS_MS), help="only these (default: all)"
    )
    args = parser.parse_args()
    neighbour = args.customers // 2 if args.neighbour is None else args.neighbour

    title = "bench_collection: the customer collection (issue 14)"
    with harness.bench_session(title, args) as (benv, machine):
        harness.run_async(
            dataset.ensure_seeded(
                benv.database_url, TENANT, args.customers, neighbours={NEIGHBOUR: neighbour}
            )
        )
        harness.run_async(_vacuum(benv.database_url))
        print(harness.run_async(harness.postgres_version(benv.database_url)), flush=True)
        with harness.suite_with_token(benv) as (suite, token):
            meter = CpuMeter(suite, harness.BENCH_NAME)
            results = harness.run_async(run(benv, meter, token, args))
        report(results, args.concurrency)
        harness.save_results(
            "bench_collection",
            {"machine": machine, "customers": args.customers, "neighbour": neighbour,
             "concurrency": args.concurrency, "requests": args.requests, **results},
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    harness.run_main(main)
