"""Issue 4's benchmark: what the gateway costs on `GET /customers/{id}`, and token verification.

With wrk (Debian's package, installed if absent) as the load generator, in the same run:

  direct   GET /api/v2/customers/{id} straight to customer_service (which verifies the token)
  gateway  GET /services/customerservice/api/v2/customers/{id} through the gateway (token check,
           rate-limit script in Redis, proxy), then the same customer_service

Same token, same X-TWC-Tenant, random existing ids among the bench tenant's customers, rounds
alternating the order. Goal: the gateway keeps at least 60% of the direct throughput. Then a
micro-benchmark of `TokenVerifier.verify` (JWKS cached) and its parts, in µs per call.

    python -m bench.bench_gateway [--threads 2] [--connections 32] [--duration 15] [--rounds 2]
                                  [--profile]   # + one py-spy profiled gateway run (unmeasured)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jwt.algorithms import RSAAlgorithm

from bench import dataset, harness
from bench.harness import RUN_DIR, TENANT, BenchEnv, CpuMeter
from deploy.local.suite import Suite
from shared.app_factory import build_token_verifier
from shared.revocations import RevocationList
from shared.tokens import TokenVerifier

GOAL_PERCENT = 60
PUBLIC_PREFIX = "/services/customerservice"
UPSTREAM_PATH = "/api/v2/customers/"

LUA = """-- written by bench/bench_gateway.py: random existing ids, bench token, JSON summary
local ids = {%(ids)s}
local prefix = "%(prefix)s"
local n = #ids
local i = 0
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["X-TWC-Tenant"] = "%(tenant)s"

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("start", threads * 7919)
end

function init(args)
  i = (start or 0) %% n
end

function request()
  i = i %% n + 1
  return wrk.format(nil, prefix .. ids[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"bytes\\": %%d, " ..
    "\\"errors_connect\\": %%d, \\"errors_read\\": %%d, \\"errors_write\\": %%d, " ..
    "\\"errors_status\\": %%d, \\"errors_timeout\\": %%d, \\"p50_us\\": %%d, \\"p90_us\\": %%d, " ..
    "\\"p99_us\\": %%d, \\"p999_us\\": %%d, \\"mean_us\\": %%.1f, \\"max_us\\": %%d}\\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
"""


def ensure_wrk() -> str:
    """wrk from Debian, installed with apt-get if absent (apt-get update first if needed)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk: not found, installing the Debian package (apt-get install wrk)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: wrk could not be installed")
    return found


async def sample_ids(dsn: str, count: int) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id::text FROM customer.customers WHERE tenant_id = $1 AND NOT deleted "
            "ORDER BY random() LIMIT $2",
            TENANT,
            count,
        )
    finally:
        await conn.close()
    return [row[0] for row in rows]


async def check_both_answer(benv: BenchEnv, token: str, customer_id: str) -> None:
    """Both targets must answer 200 with the same customer before anything is measured."""
    headers = {"Authorization": f"Bearer {token}", "X-TWC-Tenant": TENANT}
    bodies = []
    async with aiohttp.ClientSession(headers=headers) as session:
        for url in (
            f"{benv.service_url}{UPSTREAM_PATH}{customer_id}",
            f"{benv.gateway_url}{PUBLIC_PREFIX}{UPSTREAM_PATH}{customer_id}",
        ):
            async with session.get(url) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET {url} answered {response.status}: {body[:300]!r}")
                bodies.append(json.loads(body))
    if bodies[0] != bodies[1]:
        raise RuntimeError("the gateway and customer_service returned different customers")


def write_lua(directory: Path, ids: list[str], token: str, prefix: str) -> Path:
    path = directory / f"get_customer{prefix.replace('/', '_')}.lua"
    path.write_text(
        LUA
        % {
            "ids": ", ".join(f'"{i}"' for i in ids),
            "prefix": prefix,
            "token": token,
            "tenant": TENANT,
        }
    )
    return path


def run_wrk(wrk: str, args: argparse.Namespace, script: Path, base: str, duration: float) -> dict:
    command = [
        wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{duration:g}s",
        "--latency", "--timeout", "5s", "-s", str(script), base,
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    for line in completed.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            result = json.loads(line.removeprefix("WRK_RESULT "))
            seconds = result["duration_us"] / 1e6
            result["req_per_s"] = result["requests"] / seconds if seconds else 0.0
            result["errors"] = sum(v for k, v in result.items() if k.startswith("errors_"))
            return result
    raise RuntimeError(f"wrk printed no result:\n{completed.stdout}\n{completed.stderr}")


def measured_run(
    wrk: str, args: argparse.Namespace, script: Path, base: str, meter: CpuMeter,
    target: str, round_number: int,
) -> dict[str, Any]:  # fmt: skip
    """A warm-up run, then a measured one with the CPU each process group used meanwhile."""
    run_wrk(wrk, args, script, base, args.warmup)
    before = meter.snapshot()
    result = run_wrk(wrk, args, script, base, args.duration)
    result["cpu_percent"] = CpuMeter.usage(before, meter.snapshot())
    result.update(target=target, round=round_number)
    print(
        f"  round {round_number} {target:<12} {result['req_per_s']:8.0f} req/s  "
        f"p50 {result['p50_us'] / 1000:6.2f} ms  p99 {result['p99_us'] / 1000:6.2f} ms"
        f"  non-2xx/errors {result['errors']}",
        flush=True,
    )
    print(f"    {harness.format_cpu(result['cpu_percent'])}", flush=True)
    return result


def measure_targets(
    wrk: str, args: argparse.Namespace, scripts: dict[str, Path], bases: dict[str, str],
    meter: CpuMeter,
) -> list[dict[str, Any]]:  # fmt: skip
    runs = []
    for round_number in range(1, args.rounds + 1):
        order = ("direct", "gateway") if round_number % 2 else ("gateway", "direct")
        for target in order:
            runs.append(
                measured_run(wrk, args, scripts[target], bases[target], meter, target, round_number)
            )
    return runs


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    summary = {}
    for target in ("direct", "gateway"):
        mine = [r for r in runs if r["target"] == target]
        requests = sum(r["requests"] for r in mine)
        seconds = sum(r["duration_us"] for r in mine) / 1e6
        summary[target] = {
            "req_per_s": requests / seconds,
            "p50_ms": statistics.mean(r["p50_us"] for r in mine) / 1000,
            "p99_ms": statistics.mean(r["p99_us"] for r in mine) / 1000,
            "mean_ms": statistics.mean(r["mean_us"] for r in mine) / 1000,
            "requests": requests,
            "errors": sum(r["errors"] for r in mine),
            "cpu_percent": {
                name: statistics.mean(r["cpu_percent"].get(name, 0.0) for r in mine)
                for name in {name for r in mine for name in r["cpu_percent"]}
            },
        }
    gateway, direct = summary["gateway"], summary["direct"]
    summary["ratio"] = {
        "throughput_percent": 100 * gateway["req_per_s"] / direct["req_per_s"],
        "p50_x": gateway["p50_ms"] / direct["p50_ms"],
        "p99_x": gateway["p99_ms"] / direct["p99_ms"],
    }
    return summary


# ------------------------------------------------------------------------ token verification


def _per_call_us(function, iterations: int, repeats: int = 5) -> float:
    """Best of `repeats` of `iterations` calls, in µs per call (the usual micro-benchmark rule)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(iterations):
            function()
        best = min(best, time.perf_counter() - started)
    return best / iterations * 1e6


async def token_costs(benv: BenchEnv, token: str, iterations: int) -> dict[str, float]:
    """µs per `TokenVerifier.verify` (built exactly as the services build it, JWKS cached, with a
    local revocation list) and per step inside it."""
    settings = benv.settings
    cached = build_token_verifier(settings, RevocationList(settings.redis_url))
    # The same verifier without its cache of verified tokens: the cost of a token seen first.
    uncached = TokenVerifier(
        jwks_url=settings.jwks_url, audience=settings.token_audience,
        issuer_for=settings.issuer_for, leeway_seconds=settings.token_leeway_seconds,
        revocations=RevocationList(settings.redis_url), cache_size=0,
    )  # fmt: skip
    results = {}
    for name, verifier in (("verify_us", uncached), ("verify_cached_us", cached)):
        try:
            await verifier.refresh()  # the JWKS, once; verify() then never touches the network
            for _ in range(200):
                await verifier.verify(token)
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(iterations):
                    await verifier.verify(token)
                best = min(best, time.perf_counter() - started)
            results[name] = best / iterations * 1e6
        finally:
            await verifier.close()

    async with aiohttp.ClientSession() as session, session.get(settings.jwks_url) as response:
        jwks = await response.json()
    header = jwt.get_unverified_header(token)
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    key = RSAAlgorithm.from_jwk(jwk)
    claims = jwt.decode(token, options={"verify_signature": False})
    signing_input, _, signature = token.rpartition(".")
    raw_signature = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))

    def full_decode() -> None:
        jwt.decode(
            token, key=key, algorithms=["RS256"], audience=settings.token_audience,
            issuer=settings.issuer_for(claims["tenant"]), leeway=settings.token_leeway_seconds,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "tenant"]},
        )  # fmt: skip

    def rsa_only() -> None:
        key.verify(raw_signature, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())

    return {
        **results,
        "get_unverified_header_us": _per_call_us(
            lambda: jwt.get_unverified_header(token), iterations
        ),
        "decode_unverified_us": _per_call_us(
            lambda: jwt.decode(token, options={"verify_signature": False}), iterations
        ),
        "decode_verified_us": _per_call_us(full_decode, iterations),
        "rsa_signature_us": _per_call_us(rsa_only, iterations),
        "key_bits": key.key_size,
    }


# ------------------------------------------------------------------------------- profiling


def profile_gateway(
    wrk: str, args: argparse.Namespace, suite: Suite, scripts: dict[str, Path], base: str
) -> dict[str, Any]:
    """One extra (unmeasured) gateway run with py-spy sampling the gateway and customer_service;
    folded stacks go to .run/bench/profile/, the top functions are printed."""
    py_spy = find_py_spy()
    if py_spy is None:
        return {}
    out_dir = RUN_DIR / "profile"
    out_dir.mkdir(parents=True, exist_ok=True)
    recorders = {}
    for service in ("gateway", "customer_service"):
        output = out_dir / f"{service}.folded"
        recorders[service] = (
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(suite.processes[service].pid),
                    "--duration",
                    f"{int(args.duration)}",
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(output),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            output,
        )
    time.sleep(1)
    run_wrk(wrk, args, scripts["gateway"], base, args.duration)
    profiles = {}
    for service, (process, output) in recorders.items():
        process.wait(timeout=60)
        if output.exists():
            profiles[service] = top_functions(output)
            print_profile(f"{service} under load", output, profiles[service])
    return profiles


def find_py_spy() -> str | None:
    """py-spy's path (a dev dependency), or None with a word on how to get it."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("profile: py-spy is not installed (.venv/bin/pip install py-spy); skipped")
        return None
    return py_spy


def print_profile(title: str, folded: Path, profile: dict[str, Any]) -> None:
    print(f"\nprofile of {title} ({folded.relative_to(harness.ROOT)}):")
    print("  inclusive:")
    for share, name in profile["inclusive"][:25]:
        print(f"    {share:5.1f}%  {name}")
    print("  self:")
    for share, name in profile["self"][:12]:
        print(f"    {share:5.1f}%  {name}")


def top_functions(folded: Path) -> dict[str, Any]:
    """Share of samples per function: inclusive (on the stack) and self (the leaf)."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        frames = [_short(frame) for frame in stack.split(";")]
        for name in set(frames):
            inclusive[name] += samples
        leaf[frames[-1]] += samples
    total = total or 1
    return {
        "samples": total,
        "inclusive": [(100 * n / total, name) for name, n in inclusive.most_common(60)],
        "self": [(100 * n / total, name) for name, n in leaf.most_common(30)],
    }


def _short(frame: str) -> str:
    # py-spy frames look like "function (path/to/module.py:123)".
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


# -------------------------------------------------------------------------------------- main


def report(summary: dict[str, Any], runs: list[dict[str, Any]], tokens: dict[str, float]) -> None:
    rows = [
        [f"round {r['round']}", r["target"], r["req_per_s"], r["p50_us"] / 1000,
         r["p99_us"] / 1000, r["mean_us"] / 1000, r["requests"], r["errors"]]
        for r in runs
    ]  # fmt: skip
    for target in ("direct", "gateway"):
        s = summary[target]
        rows.append(
            ["all rounds", target, s["req_per_s"], s["p50_ms"], s["p99_ms"], s["mean_ms"],
             s["requests"], s["errors"]]
        )  # fmt: skip
    print("\nGET /customers/{id}: gateway vs customer_service directly (wrk)")
    print(
        harness.table(
            ["run", "target", "req/s", "p50 ms", "p99 ms", "mean ms", "requests", "non-2xx/err"],
            rows,
        )
    )
    ratio = summary["ratio"]
    verdict = "meets" if ratio["throughput_percent"] >= GOAL_PERCENT else "MISSES"
    print(
        f"\ngateway throughput = {ratio['throughput_percent']:.0f}% of direct "
        f"({verdict} the goal of ≥ {GOAL_PERCENT}%); latency p50 x{ratio['p50_x']:.2f}, "
        f"p99 x{ratio['p99_x']:.2f}"
    )
    for target in ("direct", "gateway"):
        print(f"  {target:<8} {harness.format_cpu(summary[target]['cpu_percent'])}")
    noisy = [
        f"round {r['round']} {r['target']}" for r in runs if harness.disturbed(r["cpu_percent"])
    ]
    if noisy:
        print(
            f"!! other processes took > {harness.NOISY_OTHER_PERCENT}% CPU during: "
            + ", ".join(noisy)
            + " (those numbers are disturbed; run again on a quiet machine)"
        )

    gateway_rps = summary["gateway"]["req_per_s"]
    # The gateway verifies, then customer_service again; a client reuses its token, so in
    # steady state both are cache hits.
    per_request = 2 * tokens["verify_cached_us"]
    print(f"\nToken verification (TokenVerifier.verify, JWKS cached, RS{tokens['key_bits']}):")
    print(
        harness.table(
            ["step", "µs per call"],
            [
                ["TokenVerifier.verify, a token seen before (cached)", tokens["verify_cached_us"]],
                ["TokenVerifier.verify, a token seen first", tokens["verify_us"]],
                ["  jwt.get_unverified_header", tokens["get_unverified_header_us"]],
                ["  jwt.decode without signature check", tokens["decode_unverified_us"]],
                ["  jwt.decode with signature and claims", tokens["decode_verified_us"]],
                ["    of which the RSA signature alone", tokens["rsa_signature_us"]],
            ],
        )
    )
    print(
        f"Each proxied request is verified twice (gateway + customer_service): "
        f"{per_request:.0f} µs of CPU; at the gateway's {gateway_rps:,.0f} req/s that is "
        f"{per_request * gateway_rps / 1e4:.0f}% of one core."
    )


def add_wrk_arguments(
    parser: argparse.ArgumentParser, *, duration: float, warmup: float, rounds: int
) -> None:
    """The load generator's options, shared by the wrk benchmarks."""
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (-t)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (-c)")
    parser.add_argument("--duration", type=float, default=duration, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=warmup, help="seconds of unmeasured load")
    parser.add_argument("--rounds", type=int, default=rounds, help="rounds of every target")
    parser.add_argument("--ids", type=int, default=2000, help="distinct random ids requested")
    parser.add_argument("--profile", action="store_true", help="also profile with py-spy")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_common_arguments(parser)
    add_wrk_arguments(parser, duration=15, warmup=3, rounds=2)
    parser.add_argument("--token-iterations", type=int, default=2000)
    args = parser.parse_args()

    harness.install_signal_handlers()
    benv = harness.bench_env()
    machine = harness.print_header("bench_gateway: gateway overhead and token cost (issue 4)")
    wrk = ensure_wrk()
    print(f"wrk: {subprocess.run([wrk, '-v'], capture_output=True, text=True).stdout.split()[1]}")
    harness.ensure_vhost(benv.settings.amqp_url)
    try:
        harness.run_async(harness.prepare_database(benv, fresh=args.fresh))
        harness.run_async(dataset.ensure_seeded(benv.database_url, TENANT, args.customers))
        ids = harness.run_async(sample_ids(benv.database_url, args.ids))
        with harness.running_suite(benv) as suite, tempfile.TemporaryDirectory() as tmp:
            credentials = harness.provision(benv)
            token = harness.run_async(harness.fetch_token(benv, credentials))
            harness.run_async(check_both_answer(benv, token, ids[0]))
            scripts = {
                "direct": write_lua(Path(tmp), ids, token, UPSTREAM_PATH),
                "gateway": write_lua(Path(tmp), ids, token, PUBLIC_PREFIX + UPSTREAM_PATH),
            }
            bases = {"direct": benv.service_url, "gateway": benv.gateway_url}
            print(
                f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency, "
                f"{args.rounds} rounds (alternating order, {args.warmup:g}s warm-up each), "
                f"{len(ids):,} random ids",
                flush=True,
            )
            runs = measure_targets(wrk, args, scripts, bases, CpuMeter(suite, harness.BENCH_NAME))
            summary = summarize(runs)
            print("token verification micro-benchmark (suite idle) …", flush=True)
            tokens = harness.run_async(token_costs(benv, token, args.token_iterations))
            profiles = (
                profile_gateway(wrk, args, suite, scripts, bases["gateway"]) if args.profile else {}
            )
        report(summary, runs, tokens)
        harness.save_results(
            "bench_gateway",
            {"machine": machine, "customers": args.customers, "threads": args.threads,
             "connections": args.connections, "duration_s": args.duration, "rounds": runs,
             "summary": summary, "token_verification": tokens, "profiles": profiles},
        )  # fmt: skip
    finally:
        if args.drop_db:
            harness.run_async(harness.drop_database(benv))
    return 0


if __name__ == "__main__":
    harness.run_main(main)
