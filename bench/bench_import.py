"""Issue 5's benchmark: a generated 1,000,000-row CSV imported end to end through the gateway
(create batch → upload → READY → COMPLETED), next to a raw COPY of the same rows into a bare
copy of the customers table, in the same run.

  raw COPY   the same customers, already in table shape (columns + the jsonb profile the import
             stores), COPY'd as CSV into `customer.customers_bare` (LIKE customer.customers,
             no index, no constraint, no row-level security): what PostgreSQL alone can take
  import     the real thing: the gateway streams the upload into the batch store, the worker
             parses, validates every row with the shared schema, matches, merges, writes chunks
             set-based with their row errors, outbox events and checkpoint

  stored floor  (issue 12's baseline) a plain COPY of exactly the rows the import left behind —
             the tenant's customers, outbox rows, batch and row errors — into fresh tables
             `CREATE TABLE … (LIKE … INCLUDING ALL)` (same columns and indexes), measured
             right after the import in the same run

Reported: rows/s of the import against the stored floor (goal: >= 0.40) and against the raw
COPY, the peak RSS of the worker (VmHWM from /proc, goal < 300 MB), and who used the CPU.

    python -m bench.bench_import [--rows 1000000] [--keep-tenant]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from bench import harness
from bench.harness import BenchEnv, CpuMeter
from deploy.local.suite import Suite
from shared.customers.representation import split_state

TENANT = "bench_import"
DEFAULT_ROWS = 1_000_000
IMPORT = "/services/impex/api/import"
HEADER = (
    "customerRef", "alternateCustomerRef", "email", "firstName", "lastName", "mobile", "dob",
    "loyaltyTier", "accepts_marketing", "memberSince", "taxExemptions", "address.address1",
    "address.city", "address.countryCode", "address.postcode",
)  # fmt: skip
BARE_TABLE = "customer.customers_bare"
BARE_COLUMNS = (
    "tenant_id", "id", "customer_ref", "alternate_customer_ref", "email", "first_name",
    "last_name", "mobile", "phone", "profile",
)  # fmt: skip
_FIRST = ("Ada", "Grace", "Alan", "Linus", "Edsger", "Barbara", "Donald", "Margaret", "Ken")
_LAST = ("Lovelace", "Hopper", "Turing", "Torvalds", "Dijkstra", "Liskov", "Knuth", "Hamilton")
_CITIES = (("London", "GB", "SW1A 1AA"), ("Leeds", "GB", "LS1 1UR"), ("Paris", "FR", "75001"),
           ("Berlin", "DE", "10115"), ("Austin", "US", "73301"))  # fmt: skip
_TIERS = ("bronze", "silver", "gold", "platinum")
# One record in this many is invalid (a bad email), as real files have a few.
INVALID_EVERY = 1000


def generate(rows: int, folder: Path) -> tuple[Path, Path]:
    """The import CSV and, for the raw COPY, the same customers in table shape (CSV of the bare
    table's columns). Deterministic; reused when already there."""
    source = folder / f"import-{rows}.csv"
    table = folder / f"import-{rows}-table.csv"
    if source.exists() and table.exists():
        return source, table
    rng = random.Random(5)
    started = time.perf_counter()
    with source.open("w", newline="") as src, table.open("w", newline="") as tbl:
        source_writer, table_writer = csv.writer(src), csv.writer(tbl)
        source_writer.writerow(HEADER)
        for n in range(1, rows + 1):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            city, country, postcode = rng.choice(_CITIES)
            email = f"{first}.{last}.{n}@example.com".lower()
            if n % INVALID_EVERY == 0:
                email = f"{first}.{last}.{n}-at-example.com"
            record = {
                "customerRef": f"IMP-{n:08d}", "alternateCustomerRef": f"ALT-{n:08d}",
                "email": email, "firstName": first, "lastName": last,
                "mobile": f"+447700{rng.randrange(1_000_000):06d}",
                "dob": _date(rng, rng.randint(1940, 2006)),
                "loyaltyTier": rng.choice(_TIERS), "accepts_marketing": rng.random() < 0.4,
                "memberSince": _date(rng, 2020),
                "taxExemptions": ["VAT", "DUTY"] if n % 10 == 0 else [],
                "address": {"address1": f"{rng.randint(1, 250)} High Street", "city": city,
                            "countryCode": country, "postcode": postcode},
            }  # fmt: skip
            address = record.pop("address")
            source_writer.writerow([*(_cell(record[h]) for h in HEADER[:11]), *address.values()])
            state = {k: v for k, v in record.items() if v not in ([], None)}
            state["addresses"] = [{"id": str(uuid.uuid4()), **address}]
            columns, profile = split_state(state)
            table_writer.writerow(
                [TENANT, uuid.uuid4(), *(columns[c] or "" for c in BARE_COLUMNS[2:9]),
                 orjson.dumps(profile).decode()]
            )  # fmt: skip
    print(
        f"data: generated {rows:,} rows in {time.perf_counter() - started:.1f} s "
        f"({source.stat().st_size / 1e6:.0f} MB CSV)",
        flush=True,
    )
    return source, table


def _date(rng: random.Random, year: int) -> str:
    return f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-{year}"


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "|".join(value)
    return str(value)


async def clean(dsn: str) -> None:
    """Remove what earlier runs imported (the bench database is kept between runs)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {BARE_TABLE}")
        for table in (
            "customer.outbox",
            "impex.batch_errors",
            "impex.batches",
            "customer.customers",
        ):
            await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1", TENANT)
    finally:
        await conn.close()


async def raw_copy(dsn: str, table_csv: Path, rows: int) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"CREATE TABLE {BARE_TABLE} (LIKE customer.customers INCLUDING DEFAULTS)"
        )
        started = time.perf_counter()
        await conn.copy_to_table(
            "customers_bare", schema_name="customer", source=table_csv, columns=BARE_COLUMNS,
            format="csv",
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        copied = await conn.fetchval(f"SELECT count(*) FROM {BARE_TABLE}")
        await conn.execute(f"DROP TABLE {BARE_TABLE}")
    finally:
        await conn.close()
    assert copied == rows, (copied, rows)
    return {"seconds": elapsed, "rows_per_s": rows / elapsed}


class RssSampler:
    """Peak resident memory of a process and its children (the worker, with any validator
    processes), sampled from /proc; VmHWM gives the main process's exact peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_tree_kb = 0

    def sample(self) -> None:
        total = 0
        for pid in (self.pid, *_children(self.pid)):
            total += _status_kb(pid, "VmRSS")
        self.peak_tree_kb = max(self.peak_tree_kb, total)

    def hwm_kb(self) -> int:
        return _status_kb(self.pid, "VmHWM")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(child) for child in f.read().split()]
    except OSError:
        return []


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


async def import_through_gateway(
    benv: BenchEnv, token: str, source: Path, rows: int, suite: Suite, meter: CpuMeter
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "X-TWC-Tenant": TENANT}
    base = benv.gateway_url + IMPORT
    rss = RssSampler(suite.processes["impex_worker"].pid)
    rss_before = rss.hwm_kb()
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
        cpu_start = meter.snapshot()
        started = time.perf_counter()
        async with http.post(f"{base}/batch", json={"batchRef": f"bench-{uuid.uuid4()}"}) as r:
            batch = await r.json()
        with source.open("rb") as body:
            async with http.post(
                f"{base}/batch/{batch['id']}/file", data=body,
                headers={"Content-Type": "text/csv"},
            ) as r:  # fmt: skip
                assert r.status == 202, await r.text()
        uploaded = time.perf_counter()
        async with http.put(
            f"{base}/batch/state-change", params={"batchId": batch["id"], "state": "READY"}
        ) as r:
            assert r.status == 200, await r.text()
        last_print = 0.0
        while True:
            rss.sample()
            async with http.get(f"{base}/batch/{batch['id']}") as r:
                batch = await r.json()
            now = time.perf_counter()
            if now - last_print > 10:
                last_print = now
                print(
                    f"  {now - started:6.1f} s  {batch['state']:<10} {batch['processed']:>9,} / "
                    f"{batch['total'] or 0:,}  worker RSS {rss.peak_tree_kb / 1024:.0f} MB",
                    flush=True,
                )
            if batch["state"] in ("COMPLETED", "ERROR", "ABORTED"):
                break
            await asyncio.sleep(0.2)
        finished = time.perf_counter()
        cpu = CpuMeter.usage(cpu_start, meter.snapshot())
    if batch["state"] != "COMPLETED" or batch["processed"] != rows:
        raise RuntimeError(f"the import did not complete: {batch}")
    return {
        "batch": batch,
        "upload_seconds": uploaded - started,
        "import_seconds": finished - uploaded,
        "seconds": finished - started,
        "rows_per_s": rows / (finished - started),
        "import_rows_per_s": rows / (finished - uploaded),
        "worker_rss_hwm_mb": rss.hwm_kb() / 1024,
        "worker_rss_hwm_before_mb": rss_before / 1024,
        "worker_tree_rss_peak_mb": rss.peak_tree_kb / 1024,
        "cpu_percent": cpu,
    }


async def outbox_drain_seconds(dsn: str, limit: float = 900) -> float:
    """How long after COMPLETED the relay needs to publish the import's events."""
    conn = await asyncpg.connect(dsn)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < limit:
            left = await conn.fetchval(
                "SELECT count(*) FROM customer.outbox WHERE tenant_id = $1 AND sent_at IS NULL",
                TENANT,
            )
            if not left:
                break
            await asyncio.sleep(1)
    finally:
        await conn.close()
    return time.perf_counter() - started


# Every table an import writes, with the tenant's rows it left there.
STORED_TABLES = ("customer.customers", "customer.outbox", "impex.batches", "impex.batch_errors")


async def stored_floor(dsn: str, folder: Path) -> dict[str, Any]:
    """COPY the tenant's rows of every table the import wrote into fresh tables with the same
    columns and indexes, timing only the COPYs in (the rows are exported to files first)."""
    conn = await asyncpg.connect(dsn)
    seconds, counts = 0.0, {}
    try:
        for table in STORED_TABLES:
            schema, name = table.split(".")
            # Generated columns (customers.email_lower) are computed by the COPY in, as stored.
            columns = await conn.fetchval(
                "SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute"
                " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped"
                " AND attgenerated = ''",
                table,
            )
            dump = folder / f"floor-{name}.copy"
            with dump.open("wb") as out:
                await conn.copy_from_query(
                    f"SELECT {', '.join(columns)} FROM {table} WHERE tenant_id = $1", TENANT,
                    output=out,
                )  # fmt: skip
            floor_table = f"{name}_floor"
            await conn.execute(f"DROP TABLE IF EXISTS {schema}.{floor_table}")
            await conn.execute(f"CREATE TABLE {schema}.{floor_table} (LIKE {table} INCLUDING ALL)")
            started = time.perf_counter()
            result = await conn.copy_to_table(
                floor_table, schema_name=schema, source=dump, columns=columns
            )
            seconds += time.perf_counter() - started
            counts[table] = int(result.split()[-1])
            await conn.execute(f"DROP TABLE {schema}.{floor_table}")
            dump.unlink()
    finally:
        await conn.close()
    return {"seconds": seconds, "rows": counts}


def report(
    copy: dict[str, float], floor: dict[str, Any], imported: dict[str, Any], rows: int
) -> None:
    ratio = imported["rows_per_s"] / copy["rows_per_s"] * 100
    floor_rows_per_s = rows / floor["seconds"]
    floor_ratio = imported["rows_per_s"] / floor_rows_per_s
    batch = imported["batch"]
    print(f"\nImport of {rows:,} rows (imported {batch['imported']:,}, failed {batch['failed']:,})")
    print(
        harness.table(
            ["path", "seconds", "rows/s", "% of raw COPY"],
            [
                ["raw COPY into a bare table", copy["seconds"], copy["rows_per_s"], 100.0],
                ["stored floor: COPY of what the import stored", floor["seconds"],
                 floor_rows_per_s, floor_rows_per_s / copy["rows_per_s"] * 100],
                ["import, end to end (upload → COMPLETED)", imported["seconds"],
                 imported["rows_per_s"], ratio],
                ["  of which upload through the gateway", imported["upload_seconds"], "", ""],
                ["  of which READY → COMPLETED", imported["import_seconds"],
                 imported["import_rows_per_s"],
                 imported["import_rows_per_s"] / copy["rows_per_s"] * 100],
            ],
        )
    )  # fmt: skip
    print(
        f"\nworker peak RSS: {imported['worker_rss_hwm_mb']:.0f} MB (VmHWM; "
        f"{imported['worker_rss_hwm_before_mb']:.0f} MB before the import), process tree peak "
        f"{imported['worker_tree_rss_peak_mb']:.0f} MB (sampled)"
    )
    print(harness.format_cpu(imported["cpu_percent"]))
    print(f"stored floor rows: {floor['rows']}")
    goals = (
        f"goals: import >= 0.40 of the stored floor: {'met' if floor_ratio >= 0.40 else 'NOT met'}"
        f" ({floor_ratio:.2f}); bare-COPY ratio {ratio / 100:.3f}; worker RSS < 300 MB: "
        f"{'met' if imported['worker_rss_hwm_mb'] < 300 else 'NOT met'}"
    )
    print(goals)
    if harness.disturbed(imported["cpu_percent"]):
        print(f"!! other processes took > {harness.NOISY_OTHER_PERCENT}% CPU during the import")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_common_arguments(parser)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in the CSV")
    parser.add_argument(
        "--keep-tenant", action="store_true", help="keep the imported customers afterwards"
    )
    args = parser.parse_args()

    harness.install_signal_handlers()
    benv = harness.bench_env()
    machine = harness.print_header("bench_import: bulk import end to end (issue 5)")
    harness.ensure_vhost(benv.settings.amqp_url)
    folder = harness.RUN_DIR / "data"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        harness.run_async(harness.prepare_database(benv, fresh=args.fresh))
        print(harness.run_async(harness.postgres_version(benv.database_url)), flush=True)
        source, table_csv = generate(args.rows, folder)
        harness.run_async(clean(benv.database_url))
        copy = harness.run_async(raw_copy(benv.database_url, table_csv, args.rows))
        print(f"raw COPY: {copy['rows_per_s']:,.0f} rows/s ({copy['seconds']:.1f} s)", flush=True)
        with harness.running_suite(benv) as suite:
            credentials = harness.provision(benv, TENANT)
            token = harness.run_async(harness.fetch_token(benv, credentials))
            meter = CpuMeter(suite, harness.BENCH_NAME)
            print("import: upload → READY → COMPLETED through the gateway …", flush=True)
            imported = harness.run_async(
                import_through_gateway(benv, token, source, args.rows, suite, meter)
            )
            floor = harness.run_async(stored_floor(benv.database_url, folder))
            drain = harness.run_async(outbox_drain_seconds(benv.database_url))
            imported["outbox_drained_after_s"] = drain
        report(copy, floor, imported, args.rows)
        print(f"customer events relayed {drain:.0f} s after COMPLETED")
        harness.save_results(
            "bench_import",
            {
                "machine": machine,
                "rows": args.rows,
                "raw_copy": copy,
                "stored_floor": floor,
                "import": imported,
            },
        )
        if not args.keep_tenant:
            harness.run_async(clean(benv.database_url))
    finally:
        if args.drop_db:
            harness.run_async(harness.drop_database(benv))
    return 0


if __name__ == "__main__":
    harness.run_main(main)
