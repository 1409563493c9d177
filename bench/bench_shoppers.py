"""bench_shoppers (issue 16): shopper logins per second per core, and the cost of a session check.

1. argon2id alone, in this process on one thread: ms per verification at the configured cost
   (SHOPPER_PASSWORD_*) and at cheaper ones; a login is one verification, so logins/s per core
   is its inverse.
2. POST /shoppers/login straight to customer_service, one client per core, for a while:
   logins/s, and the CPU customer_service used → logins/s per customer_service core.
3. GET /shoppers/me (session → customer in one query) against GET /customers/{id} of the same
   customer, straight to customer_service, in alternating rounds: the p50 the session adds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from typing import Any

import aiohttp

from bench import harness
from bench.bench_lookups import measure
from bench.harness import BenchEnv, CpuMeter
from customer_service.shoppers.passwords import PasswordHasher

TENANT = "bench_shoppers"
SCOPES = "customers:read customers:write shoppers:auth shoppers:admin"
PASSWORD = "bench password 1"
SHOPPERS = "/api/v2/shoppers"


def _cost(time_cost: int, memory_kib: int) -> dict[str, int]:
    return {"time_cost": time_cost, "memory_kib": memory_kib, "parallelism": 1}


def _cost(time_cost: int, memory_kib: int) -> dict[str, int]:
    return {"time_cost": time_cost, "memory_kib": memory_kib, "parallelism": 1}


def hash_costs(settings: Any) -> list[tuple[str, dict[str, int]]]:
    """The configured cost (default: OWASP's baseline, t=2 and 19 MiB), a costlier and a
    cheaper one, to show what the settings trade."""
    configured = {
        "time_cost": settings.shopper_password_time_cost,
        "memory_kib": settings.shopper_password_memory_kib,
        "parallelism": settings.shopper_password_parallelism,
    }
    return [
        ("configured", configured),
        ("t=3, 64 MiB (RFC 9106, second choice)", _cost(3, 64 * 1024)),
        ("t=1, 8 MiB", _cost(1, 8 * 1024)),
    ]


def time_verification(cost: dict[str, int], rounds: int) -> dict[str, float]:
    """ms per argon2id verification on one thread (the blocking call, no event loop)."""
    hasher = PasswordHasher(**cost)
    try:
        stored = harness.run_async(hasher.hash(PASSWORD))
        hasher.check(stored, PASSWORD)  # warm
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(rounds):
            assert hasher.check(stored, PASSWORD)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        hasher.close()
    return {
        "ms_per_verify": wall / rounds * 1000,
        "cpu_ms_per_verify": cpu / rounds * 1000,
        "logins_per_s_per_core": rounds / cpu if cpu else float("nan"),
    }


async def _register(session: aiohttp.ClientSession, base: str, email: str) -> str:
    body = {"username": email, "password": PASSWORD, "customer": {"firstName": "Bench"}}
    async with session.post(f"{base}{SHOPPERS}/register", json=body) as response:
        assert response.status == 201, await response.text()
        return (await response.json())["id"]


async def _login(session: aiohttp.ClientSession, base: str, email: str) -> str:
    body = {"username": email, "password": PASSWORD}
    async with session.post(f"{base}{SHOPPERS}/login", json=body) as response:
        if response.status != 200:
            raise RuntimeError(f"login: HTTP {response.status} {await response.text()}")
        return (await response.json())["Token"]["AccessToken"]


async def run(benv: BenchEnv, meter: CpuMeter, token: str, args: argparse.Namespace) -> dict:
    base = benv.service_url
    headers = {"Authorization": f"Bearer {token}", "X-TWC-Tenant": TENANT}
    results: dict[str, Any] = {}
    async with aiohttp.ClientSession(
        headers=headers, connector=aiohttp.TCPConnector(limit=args.concurrency)
    ) as session:
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        customer_id = await _register(session, base, email)

        # --- logins through the service
        cores = os.cpu_count() or 1

        async def login(_key: str) -> int:
            await _login(session, base, email)
            return 1

        await measure(login, ["w"] * cores * 2, cores)
        before = meter.snapshot()
        stats = await measure(login, ["k"] * 100_000, cores, max_seconds=args.login_seconds)
        cpu = CpuMeter.usage(before, meter.snapshot())
        service_cores = cpu.get("customer_service", 0.0) / 100
        results["login"] = {
            **stats.summary(),
            "first_error": stats.first_error,
            "cpu_percent": cpu,
            "logins_per_s_per_service_core": stats.rps / service_cores if service_cores else None,
        }
        per_core = results["login"]["logins_per_s_per_service_core"] or 0.0
        print(
            f"  POST /login, {cores} clients: {stats.rps:.1f} logins/s, p50 "
            f"{stats.pct(50) * 1000:.1f} ms; {per_core:.1f} logins/s per customer_service core",
            flush=True,
        )
        print("  " + harness.format_cpu(cpu), flush=True)

        # --- /me against a plain GET of the same customer
        session_token = await _login(session, base, email)
        me_url, plain_url = f"{base}{SHOPPERS}/me", f"{base}/api/v2/customers/{customer_id}"

        def getter(url: str, extra: dict[str, str]):
            async def call(_key: str) -> int:
                async with session.get(url, headers=extra) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}")
                return 1

            return call

        paths = {
            "GET /customers/{id}": getter(plain_url, {}),
            "GET /shoppers/me": getter(me_url, {"AccessToken": session_token}),
        }
        for call in paths.values():
            await measure(call, ["w"] * 300, args.concurrency)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
        for _ in range(args.rounds):
            for name, call in paths.items():
                stats = await measure(call, ["k"] * args.requests, args.concurrency)
                rounds[name].append(stats.summary())
        results["me_vs_get"] = {
            name: {
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "req_per_s": statistics.median(r["req_per_s"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
            }
            for name, runs in rounds.items()
        }
    return results


def report(hashing: dict[str, Any], results: dict[str, Any], concurrency: int) -> None:
    print("\nargon2id alone, one thread (a login is one verification):")
    print(
        harness.table(
            ["cost", "ms / verify", "CPU ms / verify", "logins/s per core"],
            [
                [name, r["ms_per_verify"], r["cpu_ms_per_verify"], r["logins_per_s_per_core"]]
                for name, r in hashing.items()
            ],
        )
    )
    login = results["login"]
    per_core = login["logins_per_s_per_service_core"] or 0.0
    floor = hashing["configured"]["logins_per_s_per_core"]
    print(
        f"\nPOST /login end to end: {login['req_per_s']:.1f} logins/s, {per_core:.1f} per "
        f"customer_service core (floor, argon2 alone: {floor:.1f} per core; {per_core / floor:.0%})"
    )
    me = results["me_vs_get"]
    plain, session = me["GET /customers/{id}"], me["GET /shoppers/me"]
    print(
        f"\n/me against a plain GET of the same customer, concurrency {concurrency} "
        "(medians of rounds):"
    )
    print(
        harness.table(
            ["path", "p50 ms", "p99 ms", "req/s"],
            [[name, r["p50_ms"], r["p99_ms"], r["req_per_s"]] for name, r in me.items()],
        )
    )
    print(
        f"session check adds {session['p50_ms'] - plain['p50_ms']:+.2f} ms p50 "
        f"({session['req_per_s'] / plain['req_per_s']:.0%} of the plain GET's req/s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_common_arguments(parser)
    parser.add_argument("--login-seconds", type=float, default=15)
    parser.add_argument("--hash-rounds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000, help="per /me-vs-GET round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    title = "bench_shoppers: shopper logins and sessions (issue 16)"
    with harness.bench_session(title, args) as (benv, machine):
        hashing = {
            name: time_verification(cost, args.hash_rounds)
            for name, cost in hash_costs(benv.settings)
        }
        for name, r in hashing.items():
            print(f"  argon2id {name}: {r['ms_per_verify']:.1f} ms per verification", flush=True)
        with harness.suite_with_token(benv, TENANT, scopes=SCOPES) as (suite, token):
            meter = CpuMeter(suite, harness.BENCH_NAME)
            results = harness.run_async(run(benv, meter, token, args))
        report(hashing, results, args.concurrency)
        harness.save_results(
            "bench_shoppers",
            {"machine": machine, "hashing": hashing, "concurrency": args.concurrency, **results},
        )
    return 0


if __name__ == "__main__":
    harness.run_main(main)
