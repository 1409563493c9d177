"""Issue 13's benchmark: what customer_service costs per request against a bare handler.

With wrk as the load generator, in the same run, rounds rotating the order:

  get  bare     GET /customers/{id} of bench/bare_service.py (aiohttp + uvloop + asyncpg, nothing
                else: no token, no tenant transaction, no log line, no metrics)
  get  direct   GET /api/v2/customers/{id} straight to customer_service
  get  gateway  the same through the gateway
  get  pipe     the same through a byte pipe in front of customer_service (bench/bare_proxy.py):
                what any proxy hop costs at the least
  get  proxy    the same through aiohttp's server and the gateway's lean client forwarding and
                nothing else (bench/bare_proxy.py): the gateway's stack without the gateway's work
  post bare     POST /customers of the bare service: one customer row and one outbox row in one
                transaction
  post direct   POST /api/v2/customers to customer_service (validation, tenant transaction,
                customer row, outbox event)

Reads: random existing ids of the bench tenant. Writes: a new customer (unique email and
customerRef) per request, in the tenant `bench_writes` (emptied first, so the read tenant's
seed stays as it is). Goals (issue 13): direct ≥ 0.50 x bare for GET, gateway ≥ 0.80 x direct,
POST direct ≥ 0.50 x bare. The pipe and the proxy are floors for the gateway's goal: how near
0.80 a hop can come at all on this machine, and with aiohttp's server.

    python -m bench.bench_cost [--connections 32] [--duration 10] [--rounds 3]
                               [--profile]   # + py-spy of customer_service on GET and POST
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench import dataset, harness
from bench.bench_gateway import (
    LUA,
    PUBLIC_PREFIX,
    UPSTREAM_PATH,
    add_wrk_arguments,
    ensure_wrk,
    find_py_spy,
    measured_run,
    print_profile,
    run_wrk,
    sample_ids,
    top_functions,
    write_lua,
)
from bench.harness import RUN_DIR, TENANT, CpuMeter

WRITE_TENANT = "bench_writes"
BARE_PORT = 18209  # past the suite's ports (bench.harness.PORTS)
PROXY_PORTS = {"pipe": 18210, "proxy": 18211}
# The processes whose CPU a request of each target costs (the outbox relay in customer_service
# publishes the events of both POST targets, so it counts for both).
CPU_GROUPS = {
    "get bare": ("bare", "postgresql"),
    "get direct": ("customer_service", "postgresql"),
    "get gateway": ("gateway", "customer_service", "postgresql", "redis"),
    "get pipe": ("pipe", "customer_service", "postgresql"),
    "get proxy": ("proxy", "customer_service", "postgresql"),
    "post bare": ("bare", "customer_service", "postgresql"),
    "post direct": ("customer_service", "postgresql"),
}
GOALS = {"get direct / get bare": 0.50, "get gateway / get direct": 0.80,
         "post direct / post bare": 0.50}  # fmt: skip
PROFILED = ("get direct", "get gateway", "post direct")
# Not goals: what the gateway's goal is measured against, the same way.
FLOORS = ("get pipe / get direct", "get proxy / get direct")

POST_LUA = """-- written by bench/bench_cost.py: a new customer per request
local prefix = "%(path)s"
local run = "%(run)s"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["X-TWC-Tenant"] = "%(tenant)s"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
local stamp = 0
function init(args)
  stamp = os.time()  -- a warm-up and the measured run after it never share a second
end
function request()
  n = n + 1
  local key = run .. "-" .. stamp .. "-" .. tid .. "-" .. n
  local body = '{"email": "w' .. key .. '@example.com", "customerRef": "r' .. key .. '", ' ..
    '"firstName": "Ada", "lastName": "Lovelace", "mobile": "+447700900123", ' ..
    '"optin_preferences": {"email": {"optin": true}}}'
  return wrk.format(nil, prefix, nil, body)
end
"""
# The summary line at the end of every script (the same as bench_gateway's).
DONE_LUA = LUA[LUA.index("function done") :]


def write_post_lua(directory: Path, name: str, token: str, tenant: str, path: str) -> Path:
    script = directory / f"{name}.lua"
    run = uuid.uuid4().hex[:10]
    script.write_text(
        (POST_LUA + DONE_LUA) % {"path": path, "run": run, "token": token, "tenant": tenant}
    )
    return script


async def empty_write_tenant(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM customer.customers WHERE tenant_id = $1", WRITE_TENANT)
        await conn.execute("DELETE FROM customer.outbox WHERE tenant_id = $1", WRITE_TENANT)
    finally:
        await conn.close()


def start_bare(benv: harness.BenchEnv) -> subprocess.Popen:
    env = {**benv.env, "BENCH_TENANT": TENANT, "BENCH_WRITE_TENANT": WRITE_TENANT,
           "DB_POOL_MAX": str(benv.settings.db_pool_max)}  # fmt: skip
    return _start("bare_service", ["-m", "bench.bare_service", "--port", str(BARE_PORT)], env)


def start_proxy(benv: harness.BenchEnv, kind: str) -> subprocess.Popen:
    upstream = f"127.0.0.1:{harness.PORTS['customer_service']}"
    command = ["-m", "bench.bare_proxy", "--kind", kind, "--port", str(PROXY_PORTS[kind])]
    return _start(f"bare_{kind}", [*command, "--upstream", upstream], benv.env)


def _start(name: str, arguments: list[str], env: dict[str, str]) -> subprocess.Popen:
    log = (RUN_DIR / "logs" / f"{name}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, *arguments],
        env=env, cwd=harness.ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    log.close()
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=5)


async def check_answers(bases: dict[str, str], token: str, customer_id: str) -> None:
    """Every GET target answers 200 with the same customer id before anything is measured."""
    headers = {"Authorization": f"Bearer {token}", "X-TWC-Tenant": TENANT}
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession(headers=headers) as session:
        for name, url in bases.items():
            while True:
                try:
                    async with session.get(url + customer_id) as response:
                        body = await response.read()
                        if response.status == 200:
                            if json.loads(body)["id"] != customer_id:
                                raise RuntimeError(f"{name} answered another customer")
                            break
                        raise RuntimeError(f"{name} answered {response.status}: {body[:300]!r}")
                except aiohttp.ClientConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)


def measure(
    wrk: str,
    args: argparse.Namespace,
    targets: dict[str, tuple[Path, str]],
    meter: CpuMeter,
) -> list[dict[str, Any]]:
    runs = []
    names = list(targets)
    for round_number in range(1, args.rounds + 1):
        shift = (round_number - 1) % len(names)
        for name in names[shift:] + names[:shift]:
            script, base = targets[name]
            runs.append(measured_run(wrk, args, script, base, meter, name, round_number))
    return runs


def _cpu_us(run: dict[str, Any]) -> float:
    percent = sum(run["cpu_percent"].get(group, 0.0) for group in CPU_GROUPS[run["target"]])
    return percent / 100 / run["req_per_s"] * 1e6 if run["req_per_s"] else float("nan")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in dict.fromkeys(r["target"] for r in runs):
        mine = [r for r in runs if r["target"] == name]
        seconds = sum(r["duration_us"] for r in mine) / 1e6
        summary[name] = {
            "req_per_s": sum(r["requests"] for r in mine) / seconds,
            "p50_ms": statistics.median(r["p50_us"] for r in mine) / 1000,
            "p99_ms": statistics.median(r["p99_us"] for r in mine) / 1000,
            "errors": sum(r["errors"] for r in mine),
            # CPU time per request of the processes serving it: what the machine's other load
            # (tests of other sessions, wrk) disturbs least. Throughput on an otherwise idle
            # machine is about inversely proportional to it.
            "cpu_us_per_request": statistics.median(_cpu_us(r) for r in mine),
            "cpu_percent": {
                key: statistics.mean(r["cpu_percent"].get(key, 0.0) for r in mine)
                for key in {key for r in mine for key in r["cpu_percent"]}
            },
        }
    ratios = {}
    for goal in (*GOALS, *FLOORS):
        top, bottom = (part.strip() for part in goal.split("/"))
        if top not in summary or bottom not in summary:
            continue  # `--only` left a side of this goal out
        # Per round as well: the machine is shared, a ratio within one round is the fairer one.
        per_round = []
        for round_number in sorted({r["round"] for r in runs}):
            pair = {r["target"]: r["req_per_s"] for r in runs if r["round"] == round_number}
            per_round.append(pair[top] / pair[bottom])
        ratios[goal] = {
            "overall": summary[top]["req_per_s"] / summary[bottom]["req_per_s"],
            "per_round": per_round,
            "by_cpu": summary[bottom]["cpu_us_per_request"] / summary[top]["cpu_us_per_request"],
        }
    summary["ratios"] = ratios
    return summary


def report(summary: dict[str, Any]) -> None:
    rows = [
        [name, s["req_per_s"], s["p50_ms"], s["p99_ms"], s["cpu_us_per_request"], s["errors"]]
        for name, s in summary.items()
        if name != "ratios"
    ]
    print("\nPer request cost against the bare handler (wrk; medians of the rounds' p50/p99)")
    print(harness.table(["target", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "non-2xx/err"], rows))
    print()
    for goal, ratio in summary["ratios"].items():
        rounds = ", ".join(f"{r:.2f}" for r in ratio["per_round"])
        if goal not in GOALS:
            print(
                f"{goal:<26} throughput {ratio['overall']:.2f} (floor; rounds {rounds});  "
                f"by CPU per request {ratio['by_cpu']:.2f}"
            )
            continue
        verdict = "meets" if ratio["overall"] >= GOALS[goal] else "MISSES"
        by_cpu = "meets" if ratio["by_cpu"] >= GOALS[goal] else "MISSES"
        print(
            f"{goal:<26} throughput {ratio['overall']:.2f} ({verdict} ≥ {GOALS[goal]:.2f}; "
            f"rounds {rounds});  by CPU per request {ratio['by_cpu']:.2f} ({by_cpu})"
        )
    for name, s in summary.items():
        if name != "ratios":
            print(f"  {name:<12} {harness.format_cpu(s['cpu_percent'])}")


def profile(
    wrk: str, args: argparse.Namespace, pids: dict[str, int], targets: dict[str, tuple[Path, str]]
) -> dict[str, Any]:
    """py-spy on the services a target goes through (`pids`: gateway, customer_service) during
    one extra (unmeasured) run of each of `targets`: raw folded stacks and a flame graph SVG
    per service in .run/bench/profile/, top functions printed."""
    py_spy = find_py_spy()
    if py_spy is None:
        return {}
    out_dir = RUN_DIR / "profile"
    out_dir.mkdir(parents=True, exist_ok=True)
    profiles = {}
    for name, (script, base) in targets.items():
        services = ["customer_service"] + (["gateway"] if "gateway" in name else [])
        recorders, stems = [], {}
        for service in services:
            stem = out_dir / f"{service}_{name.replace(' ', '_')}"
            stems[service] = stem
            for fmt, output in (
                ("raw", stem.with_suffix(".folded")),
                ("flamegraph", stem.with_suffix(".svg")),
            ):
                recorders.append(
                    subprocess.Popen(
                        [
                            py_spy,
                            "record",
                            "--pid",
                            str(pids[service]),
                            "--duration",
                            f"{int(args.duration)}",
                            "--rate",
                            "250",
                            "--nonblocking",
                            "--format",
                            fmt,
                            "--output",
                            str(output),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        time.sleep(1)
        run_wrk(wrk, args, script, base, args.duration)
        for recorder in recorders:
            recorder.wait(timeout=60)
        for service, stem in stems.items():
            folded = stem.with_suffix(".folded")
            if not folded.exists():
                continue
            key = f"{service}, {name}"
            profiles[key] = top_functions(folded)
            print_profile(key, folded, profiles[key])
    return profiles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_common_arguments(parser)
    add_wrk_arguments(parser, duration=10, warmup=2, rounds=3)
    parser.add_argument("--only", default="", help="comma-separated targets (default all)")
    args = parser.parse_args()

    harness.install_signal_handlers()
    benv = harness.bench_env()
    machine = harness.print_header("bench_cost: customer_service against a bare handler (issue 13)")
    wrk = ensure_wrk()
    harness.ensure_vhost(benv.settings.amqp_url)
    harness.run_async(harness.prepare_database(benv, fresh=args.fresh))
    harness.run_async(dataset.ensure_seeded(benv.database_url, TENANT, args.customers))
    harness.run_async(empty_write_tenant(benv.database_url))
    ids = harness.run_async(sample_ids(benv.database_url, args.ids))
    with harness.running_suite(benv) as suite, tempfile.TemporaryDirectory() as tmp:
        floors = {"bare": start_bare(benv)}
        floors.update((kind, start_proxy(benv, kind)) for kind in PROXY_PORTS)
        try:
            credentials = harness.provision(benv)
            token = harness.run_async(harness.fetch_token(benv, credentials))
            writer = harness.provision(benv, WRITE_TENANT)
            write_token = harness.run_async(harness.fetch_token(benv, writer))
            bare_url = f"http://127.0.0.1:{BARE_PORT}"
            proxy_urls = {kind: f"http://127.0.0.1:{port}" for kind, port in PROXY_PORTS.items()}
            harness.run_async(check_answers(
                {"bare": f"{bare_url}/customers/",
                 "direct": f"{benv.service_url}{UPSTREAM_PATH}",
                 "gateway": f"{benv.gateway_url}{PUBLIC_PREFIX}{UPSTREAM_PATH}",
                 **{kind: f"{proxy_urls[kind]}{UPSTREAM_PATH}" for kind in PROXY_PORTS}},
                token, ids[0],
            ))  # fmt: skip
            d = Path(tmp)
            get_upstream = write_lua(d, ids, token, UPSTREAM_PATH)
            targets = {
                "get bare": (write_lua(d, ids, token, "/customers/"), bare_url),
                "get direct": (get_upstream, benv.service_url),
                "get gateway": (
                    write_lua(d, ids, token, PUBLIC_PREFIX + UPSTREAM_PATH),
                    benv.gateway_url,
                ),
                "get pipe": (get_upstream, proxy_urls["pipe"]),
                "get proxy": (get_upstream, proxy_urls["proxy"]),
                "post bare": (
                    write_post_lua(d, "post_bare", token, TENANT, "/customers"),
                    bare_url,
                ),
                "post direct": (
                    write_post_lua(
                        d, "post_direct", write_token, WRITE_TENANT, UPSTREAM_PATH.rstrip("/")
                    ),
                    benv.service_url,
                ),
            }
            if args.only:
                targets = {k: v for k, v in targets.items() if k in args.only.split(",")}
            print(
                f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency, "
                f"{args.rounds} rounds (rotating order, {args.warmup:g}s warm-up each), "
                f"{len(ids):,} random ids",
                flush=True,
            )
            shim = types.SimpleNamespace(processes={**suite.processes, **floors})
            runs = measure(wrk, args, targets, CpuMeter(shim, harness.BENCH_NAME))
            summary = summarize(runs)
            profiles = {}
            if args.profile:
                profiles = profile(
                    wrk, args, {n: p.pid for n, p in suite.processes.items()},
                    {k: v for k, v in targets.items() if k in PROFILED},
                )  # fmt: skip
        finally:
            for process in floors.values():
                stop(process)
    if summary:
        report(summary)
    harness.save_results(
        "bench_cost",
        {"machine": machine, "threads": args.threads, "connections": args.connections,
         "duration_s": args.duration, "rounds": runs, "summary": summary,
         "profiles": profiles},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    harness.run_main(main)
