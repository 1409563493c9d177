"""`python -m customer_service import FILE --tenant T`: import a file the way the API does, with a
live progress bar, then the counters and the first row errors.

The file is uploaded into the batch store (PostgreSQL, so any worker can read it) and the batch
is marked READY; the running suite's workers import it (the outbox relay of customer_service
queues it). Run it from the project root with the suite's settings (DATABASE_URL, ...).
Exit status: 0 when the batch COMPLETED (row errors or not), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from customer_service.imports.service import ImportService
from shared import db
from shared.identifiers import TENANT_ID_PATTERN, is_tenant_id
from shared.imports.representation import COMPLETED, ENDED_STATES, READY
from shared.settings import load_settings

MEDIA_TYPES = {"csv": "text/csv", "ndjson": "application/x-ndjson", "json": "application/json"}
_SUFFIXES = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "json"}
POLL_SECONDS = 0.25
# A batch still READY after this long has no worker (or no relay) taking it: say so once.
IDLE_HINT_SECONDS = 20.0
UPLOAD_BLOCK_BYTES = 1024 * 1024


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not is_tenant_id(args.tenant):
        raise SystemExit(f"--tenant must match {TENANT_ID_PATTERN}")
    file_format = args.format or _SUFFIXES.get(args.file.suffix.lower())
    if file_format is None:
        raise SystemExit("cannot tell the format from the file name: give --format")
    if not args.file.is_file():
        raise SystemExit(f"no such file: {args.file}")
    return asyncio.run(_import(args, file_format))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m customer_service import",
        description="Import customers from a CSV, NDJSON or JSON-array file, showing progress.",
    )
    parser.add_argument("file", type=Path, help="the file to import")
    parser.add_argument("--tenant", required=True, help="the tenant to import into")
    parser.add_argument("--format", choices=sorted(MEDIA_TYPES), help="default: from the suffix")
    parser.add_argument("--batch-ref", help="a batchRef for the batch (unique per tenant)")
    parser.add_argument("--errors", type=int, default=10, help="row errors to print (10)")
    return parser


async def _import(args: argparse.Namespace, file_format: str) -> int:
    settings = load_settings()
    err = Console(stderr=True)
    out = Console()
    pool = await db.create_pool(settings.app_dsn, min_size=0, max_size=2)
    try:
        service = ImportService(pool)
        tenant = args.tenant
        body = {"batchRef": args.batch_ref} if args.batch_ref else None
        batch = await service.create_batch(tenant, body)
        err.print(f"batch [bold]{batch['id']}[/] ({file_format}, tenant {tenant})")
        await _upload(service, tenant, batch["id"], args.file, file_format, err)
        await service.change_state(tenant, {"batchId": batch["id"], "state": READY})
        batch = await _follow(service, tenant, batch["id"], err)
        _report(out, batch)
        if batch["failed"]:
            page = await service.row_errors(tenant, batch["id"], {"pageSize": str(args.errors)})
            _report_errors(out, page)
    finally:
        await pool.close()
    return 0 if batch["state"] == COMPLETED else 1


async def _upload(
    service: ImportService, tenant: str, batch_id: str, path: Path, file_format: str, err: Console
) -> None:
    columns = (TextColumn("upload"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    size = (await asyncio.to_thread(path.stat)).st_size
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("upload", total=size)
        blocks = _file_blocks(path, lambda n: progress.advance(task, n))
        await service.upload_file(tenant, batch_id, MEDIA_TYPES[file_format], blocks)


async def _file_blocks(path: Path, on_read: Callable[[int], None]) -> AsyncIterator[bytes]:
    file = await asyncio.to_thread(path.open, "rb")
    with file:
        while block := await asyncio.to_thread(file.read, UPLOAD_BLOCK_BYTES):
            on_read(len(block))
            yield block


async def _follow(
    service: ImportService, tenant: str, batch_id: str, err: Console
) -> dict[str, Any]:
    """Poll the batch until it ends, moving the bar as its counters move."""
    columns = (
        TextColumn("{task.fields[state]:<10}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("imported {task.fields[imported]:,} · failed {task.fields[failed]:,}"),
        TimeElapsedColumn(),
    )  # fmt: skip
    started = time.monotonic()
    hinted = False
    with Progress(*columns, console=err) as progress:
        task = progress.add_task("import", total=None, state=READY, imported=0, failed=0)
        while True:
            batch = await service.get(tenant, batch_id)
            progress.update(
                task, total=batch["total"], completed=batch["processed"], state=batch["state"],
                imported=batch["imported"], failed=batch["failed"],
            )  # fmt: skip
            if batch["state"] in ENDED_STATES:
                return batch
            idle = time.monotonic() - started > IDLE_HINT_SECONDS
            if batch["state"] == READY and idle and not hinted:
                hinted = True
                err.print(
                    "[yellow]no worker has taken the batch yet: is the suite running "
                    "(impex_worker, and customer_service's outbox relay)?[/]"
                )
            await asyncio.sleep(POLL_SECONDS)


def _report(out: Console, batch: dict[str, Any]) -> None:
    table = Table(title=f"batch {batch['id']}", show_header=False)
    for name in ("state", "total", "processed", "imported", "failed", "errorMessage"):
        if batch.get(name) is not None:
            value = batch[name]
            table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    out.print(table)


def _report_errors(out: Console, page: dict[str, Any]) -> None:
    table = Table(title=f"first row errors ({len(page['results'])} of {page['total']:,})")
    for column in ("row", "customerRef", "email", "errors"):
        table.add_column(column)
    for error in page["results"]:
        messages = "; ".join(
            f"{field}: {' '.join(msgs)}" for field, msgs in error["errors"].items()
        )
        table.add_row(str(error["row"]), error["customerRef"] or "", error["email"] or "", messages)
    out.print(table)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
