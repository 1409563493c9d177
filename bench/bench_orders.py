"""Issue 15's benchmark: what the computed spend fields (API.md §11) cost on reads.

In a tenant of its own (`bench_orders`) it seeds customers with 1,000 placed orders each (over
two years, so half fall in the running 12-month window) and customers without orders, then
measures, straight to customer_service and through the gateway, in interleaved rounds:

  GET /customers/{id}           a customer with 1,000 orders vs one without
  GET /customers/search?lastName=…  a page of 20 customers with 1,000 orders each vs 20 without

and, as customer_service runs it, the one extra statement a read makes (the customers' totals
and running 12-month spend, `orders.spend_of` inside a tenant transaction), sequentially.
The floor is the same request for a customer without orders, measured in the same run; the
table prints the p50 difference and the ratio. Measured, never asserted.

    python -m bench.bench_orders [--requests 2000] [--concurrency 1] [--orders 1000]
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import orjson

from bench import harness
from bench.bench_lookups import measure
from shared import db
from shared.orders import repository as orders
from shared.orders.service import spend_of
from shared.timefmt import utcnow

TENANT = "bench_orders"
PUBLIC_PREFIX = "/services/customerservice"
PAGE = 20

SEED_FACTS = """
INSERT INTO customer.order_facts (
    tenant_id, order_ref, order_name, customer_id, customer_kind, customer_key, order_date,
    total, refunded_amount, currency, status, occurred_at, event_id
)
SELECT $1, c.id::text || '-' || n, '#' || n, c.id, 'customerId', c.id::text,
    now() - (n * interval '730 days' / $3), 10 + (n % 90), (n % 7), 'EUR', 'placed', now(),
    c.id::text || '-' || n
FROM unnest($2::uuid[]) AS c(id), generate_series(1, $3) AS n
"""

SEED_CUSTOMERS = """
INSERT INTO customer.customers (tenant_id, id, email, last_name, profile)
SELECT $1, id, id::text || '@bench.example', $3, '{}'::jsonb FROM unnest($2::uuid[]) AS id
"""


async def seed(pool: asyncpg.Pool, orders_each: int) -> dict[str, list[str]]:
    """Fresh customers each run (the tenant's previous ones dropped): PAGE with orders, PAGE
    without."""
    with_orders = [uuid.uuid4() for _ in range(PAGE)]
    without = [uuid.uuid4() for _ in range(PAGE)]
    async with db.connection(pool) as conn, conn.transaction():
        for table in ("order_totals", "order_facts", "order_events_seen", "customers"):
            await conn.execute(f"DELETE FROM customer.{table} WHERE tenant_id = $1", TENANT)
        await conn.execute(SEED_CUSTOMERS, TENANT, with_orders, "WithOrders")
        await conn.execute(SEED_CUSTOMERS, TENANT, without, "WithoutOrders")
        await conn.execute(SEED_FACTS, TENANT, with_orders, orders_each)
        await orders.recompute_totals(conn, TENANT, with_orders)
    async with db.connection(pool) as conn:
        # As autovacuum would: the visibility map lets the 12-month sum be an index-only scan.
        await conn.execute("VACUUM ANALYZE customer.order_facts, customer.order_totals")
    return {"with": [str(i) for i in with_orders], "without": [str(i) for i in without]}


async def measure_statement(
    pool: asyncpg.Pool, ids: dict[str, list[str]], requests: int
) -> dict[str, Any]:
    """The read's extra statement alone, in the tenant transaction the service opens."""
    results = {}
    for case, size in (("spend_of 1 customer", 1), ("spend_of 20 customers", PAGE)):
        latencies: dict[str, list[float]] = {"with": [], "without": []}
        for round_number in range(requests):
            variant = ("with", "without")[round_number % 2]
            chosen = [uuid.UUID(i) for i in random.sample(ids[variant], size)]
            started = time.perf_counter()
            async with db.tenant_transaction(pool, TENANT) as conn:
                await spend_of(conn, TENANT, chosen, utcnow())
            latencies[variant].append(time.perf_counter() - started)
        results[f"SQL {case}"] = _compare(latencies["with"], latencies["without"])
    return results


def _compare(with_orders: list[float], without: list[float]) -> dict[str, float]:
    with_stats = harness.Stats(with_orders, elapsed=1.0)
    floor = harness.Stats(without, elapsed=1.0)
    return {
        "without_p50_ms": floor.pct(50) * 1000,
        "with_p50_ms": with_stats.pct(50) * 1000,
        "delta_p50_ms": (with_stats.pct(50) - floor.pct(50)) * 1000,
        "ratio_p50": with_stats.pct(50) / floor.pct(50),
        "without_p99_ms": floor.pct(99) * 1000,
        "with_p99_ms": with_stats.pct(99) * 1000,
    }


def caller(session: aiohttp.ClientSession, base: str) -> Callable[[str], Awaitable[int]]:
    async def call(path: str) -> int:
        async with session.get(base + path) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {body[:200]!r}")
        parsed = orjson.loads(body)
        return len(parsed) if isinstance(parsed, list) else 1

    return call


async def run(benv: harness.BenchEnv, token: str, args: argparse.Namespace) -> dict[str, Any]:
    pool = await db.create_pool(benv.database_url, min_size=0, max_size=2)
    headers = {"Authorization": f"Bearer {token}", "X-TWC-Tenant": TENANT}
    results: dict[str, Any] = {}
    try:
        ids = await seed(pool, args.orders)
        results.update(await measure_statement(pool, ids, args.requests))
        async with aiohttp.ClientSession(
            headers=headers, connector=aiohttp.TCPConnector(limit=args.concurrency)
        ) as session:
            bases = {
                "customer_service": benv.service_url,
                "gateway": benv.gateway_url + PUBLIC_PREFIX,
            }
            cases = {
                ("get-by-id", "with"): lambda: f"/api/v2/customers/{random.choice(ids['with'])}",
                ("get-by-id", "without"): lambda: (
                    f"/api/v2/customers/{random.choice(ids['without'])}"
                ),
                ("page-of-20", "with"): lambda: "/api/v2/customers/search?lastName=WithOrders",
                ("page-of-20", "without"): lambda: (
                    "/api/v2/customers/search?lastName=WithoutOrders"
                ),
            }
            for path_name, base in bases.items():
                call = caller(session, base)
                for make in cases.values():  # warm-up, unmeasured
                    await measure(call, [make() for _ in range(200)], args.concurrency)
                latencies: dict[tuple[str, str], list[float]] = {key: [] for key in cases}
                # Interleaved rounds: background noise falls on both variants alike.
                for _ in range(args.rounds):
                    for key, make in cases.items():
                        paths = [make() for _ in range(args.requests // args.rounds)]
                        stats = await measure(call, paths, args.concurrency)
                        if stats.errors:
                            raise RuntimeError(f"{key}: {stats.first_error}")
                        latencies[key].extend(stats.latencies)
                for case in ("get-by-id", "page-of-20"):
                    results[f"{path_name} {case}"] = _compare(
                        latencies[(case, "with")], latencies[(case, "without")]
                    )
    finally:
        await pool.close()
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"\n{args.orders} orders per customer; {args.requests} requests per case, "
        f"HTTP concurrency {args.concurrency}; floor = the same for customers without orders\n"
    )
    rows = [
        [name, r["without_p50_ms"], r["with_p50_ms"], r["delta_p50_ms"], r["ratio_p50"],
         r["without_p99_ms"], r["with_p99_ms"]]
        for name, r in results.items()
    ]  # fmt: skip
    print(
        harness.table(
            [
                "path case",
                "floor p50 ms",
                "with p50 ms",
                "+p50 ms",
                "ratio",
                "floor p99",
                "with p99",
            ],
            rows,
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_common_arguments(parser)
    parser.add_argument("--requests", type=int, default=2000, help="per case and path")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per path")
    # 1: latency, not throughput, is the question; queueing on 2 shared cores would swamp it.
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--orders", type=int, default=1000, help="orders per customer")
    args = parser.parse_args()

    title = "bench_orders: computed spend fields on reads (issue 15)"
    with harness.bench_session(title, args) as (benv, machine):
        with harness.suite_with_token(benv, TENANT) as (_, token):
            results = harness.run_async(run(benv, token, args))
        report(results, args)
        harness.save_results(
            "bench_orders", {"machine": machine, "orders": args.orders, "results": results}
        )
    return 0


if __name__ == "__main__":
    harness.run_main(main)
