"""Imports over RabbitMQ: files and records dropped on exchange `impex`, refused paths, unknown
tenants and ended batches, the batch events on `impex.events`, and the dead-letter path of a
message that keeps failing."""

from __future__ import annotations

import os
import uuid

import aio_pika
import asyncpg
import orjson
import pytest
from structlog.testing import capture_logs

from customer_service.imports.service import ImportService
from impex_worker.consumer import Consumer, Subscription
from impex_worker.imports.handlers import dead_letter_handler, import_handler
from impex_worker.imports.intake import KnownTenants, UnknownTenant, accept_drop
from impex_worker.imports.messages import DropRecords
from impex_worker.imports.runner import BatchRunner
from impex_worker.imports.validation import Validator
from shared.amqp import (
    CUSTOMERS_IMPORT,
    IMPEX_BATCH_COMPLETED,
    IMPEX_BATCH_FAILED,
    IMPEX_EVENTS_EXCHANGE,
    IMPEX_EXCHANGE,
    IMPORTS_DEAD_LETTER_QUEUE,
    IMPORTS_QUEUE,
    Publisher,
)
from tests.support.imports import ENDED, csv_bytes, customers_of, events_of, ndjson_bytes
from tests.support.metrics import sample_total
from tests.support.waiting import eventually

DEADLINE = 30.0
DROPS = "impex_drops_refused_total"


async def drop(publisher: Publisher, body: dict) -> None:
    await publisher.publish(IMPEX_EXCHANGE, CUSTOMERS_IMPORT, body)


async def batch_by_ref(pool: asyncpg.Pool, tenant: str, ref: str, *, ended: bool = True):
    async def probe():
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM impex.batches WHERE tenant_id = $1 AND batch_ref = $2", tenant, ref
            )
        return row if row is not None and (row["state"] in ENDED or not ended) else None

    return await eventually(probe, timeout=DEADLINE)


async def test_dropped_records_are_imported_once_even_if_dropped_twice(
    worker, publisher, pool, known_tenant
):
    """A records drop creates the batch named by batchRef and imports it; the same drop again
    finds that batch ended: it changes nothing, but is refused visibly (impex.batch.failed with
    the reason, the ended batch shown as it is)."""
    message = {
        "tenant": known_tenant,
        "batchRef": "drop-records",
        "records": [{"customerRef": "Q-1", "email": "q1@example.com"}, {"email": "nope"}],
    }
    await drop(publisher, message)
    batch = await batch_by_ref(pool, known_tenant, "drop-records")
    assert (batch["state"], batch["total"], batch["imported"], batch["failed"]) == (
        "COMPLETED", 2, 1, 1,
    )  # fmt: skip
    await drop(publisher, message)
    marker = {"tenant": known_tenant, "batchRef": "after", "records": []}
    await drop(publisher, marker)  # handled after the repeat (prefetch keeps queue order)
    await batch_by_ref(pool, known_tenant, "after")
    async with pool.acquire() as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM impex.batches WHERE tenant_id = $1", known_tenant
        )
        customers = await customers_of(conn, known_tenant)
        completed = await events_of(conn, known_tenant, IMPEX_BATCH_COMPLETED)
        (refused,) = await events_of(conn, known_tenant, IMPEX_BATCH_FAILED)
        again = await conn.fetchrow("SELECT * FROM impex.batches WHERE id = $1", batch["id"])
    assert count == 2 and list(customers) == ["q1@example.com"]
    assert len(completed) == 2  # drop-records once, after once
    assert "already ended (COMPLETED)" in refused["reason"]
    assert refused["batch"]["batchRef"] == "drop-records"
    assert refused["batch"]["state"] == "COMPLETED" and "errorMessage" not in refused["batch"]
    assert (again["state"], again["imported"], again["modified_at"]) == (
        "COMPLETED", 1, batch["modified_at"],
    )  # fmt: skip


async def test_a_drop_for_an_unknown_tenant_is_dead_lettered_without_a_trace(
    worker, publisher, pool, known_tenant
):
    """A tenant auth_service does not know gets no batch, no customers and no events: the
    message is dead-lettered for operators."""
    ghost = f"ghost_{uuid.uuid4().hex[:8]}"
    refused = {"reason": "unknown_tenant"}
    refused_before = sample_total(await (await worker.get("/metrics")).text(), DROPS, **refused)
    records = [{"customerRef": "G-1", "email": "g1@example.com"}]
    await drop(publisher, {"tenant": ghost, "batchRef": "G1", "records": records})
    await drop(publisher, {"tenant": ghost, "batchRef": "G2", "format": "xml", "path": "x"})
    marker = {"tenant": known_tenant, "batchRef": "after-ghost", "records": []}
    await drop(publisher, marker)  # handled after the ghost drops (prefetch keeps queue order)
    await batch_by_ref(pool, known_tenant, "after-ghost")
    async with pool.acquire() as conn:
        for table in ("impex.batches", "customer.customers", "customer.outbox"):
            count = f"SELECT count(*) FROM {table} WHERE tenant_id = $1"
            assert await conn.fetchval(count, ghost) == 0, table
    metrics = await (await worker.get("/metrics")).text()
    assert sample_total(metrics, DROPS, **refused) == refused_before + 2
    assert ghost not in metrics


async def test_a_redelivered_drop_finding_its_batch_ended_is_not_refused(
    pool, known_tenant, tmp_path
):
    """The worker that ran a drop may die before acking it: that message comes back and finds
    the batch ended by itself. Nothing to report then; a fresh drop is refused."""
    tenants = KnownTenants(pool)
    message = DropRecords(known_tenant, "redelivered", [{"email": "r@example.com"}])
    batch_id = await accept_drop(pool, message, drop_dir=str(tmp_path), tenants=tenants)
    assert batch_id is not None
    async with pool.acquire() as conn:
        await conn.execute("UPDATE impex.batches SET state = 'COMPLETED' WHERE id = $1", batch_id)
    again = await accept_drop(
        pool, message, drop_dir=str(tmp_path), tenants=tenants, redelivered=True
    )
    assert again == batch_id  # the runner finds it ended and does nothing
    async with pool.acquire() as conn:
        assert await events_of(conn, known_tenant, IMPEX_BATCH_FAILED) == []
    assert await accept_drop(pool, message, drop_dir=str(tmp_path), tenants=tenants) is None
    async with pool.acquire() as conn:
        (refused,) = await events_of(conn, known_tenant, IMPEX_BATCH_FAILED)
    assert refused["batch"]["id"] == str(batch_id) and "already ended" in refused["reason"]
    with pytest.raises(UnknownTenant):
        await accept_drop(
            pool, DropRecords("nobody_" + known_tenant, "x", []), drop_dir=str(tmp_path),
            tenants=tenants,
        )  # fmt: skip


async def test_a_fresh_drop_for_a_running_batch_says_its_content_is_ignored(
    pool, known_tenant, tmp_path
):
    """The batch goes on with what it was first given; a second drop of other records for it
    is not silently swallowed (a redelivery of the first is normal and says nothing)."""
    tenants = KnownTenants(pool)
    first = DropRecords(known_tenant, "running", [{"email": "first@example.com"}])
    batch_id = await accept_drop(pool, first, drop_dir=str(tmp_path), tenants=tenants)
    with capture_logs() as redelivery_logs:
        again = await accept_drop(
            pool, first, drop_dir=str(tmp_path), tenants=tenants, redelivered=True
        )
    assert again == batch_id
    assert not [e for e in redelivery_logs if e["log_level"] == "warning"]
    other = DropRecords(known_tenant, "running", [{"email": "second@example.com"}])
    with capture_logs() as fresh_logs:
        assert await accept_drop(pool, other, drop_dir=str(tmp_path), tenants=tenants) == batch_id
    (warning,) = [e for e in fresh_logs if e["log_level"] == "warning"]
    assert "ignored" in warning["event"] and warning["batch_state"] == "READY"
    assert "second@example.com" not in repr(fresh_logs)


async def test_dropped_file_under_the_drop_dir_is_imported(
    worker, publisher, pool, drop_dir, known_tenant
):
    """A path relative to the tenant's folder IMPEX_DROP_DIR/<tenant> (or absolute inside it)
    is read from there."""
    folder = drop_dir / known_tenant
    (folder / "in").mkdir(parents=True)
    (folder / "in" / "a.csv").write_bytes(
        csv_bytes(["customerRef", "email"], [["F-1", "f1@example.com"], ["F-2", "f2@example.com"]])
    )
    (folder / "b.ndjson").write_bytes(ndjson_bytes([{"email": "f3@example.com"}]))
    await drop(publisher, {"tenant": known_tenant, "batchRef": "file-a", "format": "csv",
                           "path": "in/a.csv"})  # fmt: skip
    await drop(publisher, {"tenant": known_tenant, "batchRef": "file-b", "format": "ndjson",
                           "path": str(folder / "b.ndjson")})  # fmt: skip
    first = await batch_by_ref(pool, known_tenant, "file-a")
    second = await batch_by_ref(pool, known_tenant, "file-b")
    assert (first["state"], first["imported"]) == ("COMPLETED", 2)
    assert (second["state"], second["imported"]) == ("COMPLETED", 1)
    async with pool.acquire() as conn:
        assert set(await customers_of(conn, known_tenant)) == {
            "f1@example.com", "f2@example.com", "f3@example.com",
        }  # fmt: skip


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../outside.csv", "'..'"),
        ("in/../../outside.csv", "'..'"),
        ("/etc/passwd", "outside IMPEX_DROP_DIR"),
        ("link.csv", "leads outside IMPEX_DROP_DIR"),
        ("missing.csv", "cannot be read"),
        ("{drop}/other-tenant/theirs.csv", "outside IMPEX_DROP_DIR"),
        ("fifo.csv", "not a regular file"),
        ("folder", "not a regular file"),
    ],
)
async def test_paths_outside_the_drop_dir_are_refused_and_reported(
    worker, publisher, pool, drop_dir, known_tenant, path, reason
):
    """`..`, absolute paths elsewhere (another tenant's folder too) and symbolic links out are
    refused: the batch ends ERROR with the reason and impex.batch.failed is announced. A
    missing file is unreadable; a FIFO (no writer: opening it for reading would wait forever,
    on the event loop) or a folder is refused without being read."""
    folder = drop_dir / known_tenant
    (folder / "folder").mkdir(parents=True)
    os.mkfifo(folder / "fifo.csv")
    (drop_dir / "other-tenant").mkdir()
    (drop_dir / "other-tenant" / "theirs.csv").write_bytes(b"email\ntheirs@example.com\n")
    outside = drop_dir.parent / "outside.csv"
    outside.write_bytes(b"email\nsecret@example.com\n")
    os.symlink(outside, folder / "link.csv")
    await drop(publisher, {"tenant": known_tenant, "batchRef": "refused", "format": "csv",
                           "path": path.format(drop=drop_dir)})  # fmt: skip
    batch = await batch_by_ref(pool, known_tenant, "refused")
    assert batch["state"] == "ERROR"
    assert reason in batch["error_message"]
    async with pool.acquire() as conn:
        (event,) = await events_of(conn, known_tenant, IMPEX_BATCH_FAILED)
        assert await customers_of(conn, known_tenant) == {}
    assert event["batch"]["batchRef"] == "refused" and reason in event["batch"]["errorMessage"]


async def test_a_drop_without_content_is_refused_and_a_malformed_one_dead_lettered(
    worker, publisher, pool, known_tenant, test_settings
):
    """A drop naming its batch but nothing to import ends that batch ERROR; a body naming no
    batch at all cannot be reported anywhere and is dead-lettered."""
    await drop(publisher, {"tenant": known_tenant, "batchRef": "empty", "format": "xml",
                           "path": "x.xml"})  # fmt: skip
    batch = await batch_by_ref(pool, known_tenant, "empty")
    assert batch["state"] == "ERROR" and "format must be one of" in batch["error_message"]
    await drop(publisher, {"tenant": known_tenant})
    await drop(publisher, {"tenant": known_tenant, "batchRef": "still-working", "records": []})
    assert (await batch_by_ref(pool, known_tenant, "still-working"))["state"] == "COMPLETED"


async def test_batch_and_customer_events_are_published(
    customer_client, worker, publisher, pool, known_tenant, test_settings
):
    """Through the outbox relay: one customer.imported naming both imported customers on
    customer.events, and impex.batch.completed on impex.events, ids only."""
    connection = await aio_pika.connect(test_settings.amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(await channel.get_exchange(IMPEX_EVENTS_EXCHANGE), "impex.batch.*")
        await queue.bind(await channel.get_exchange("customer.events"), "customer.*")
        records = [{"email": "e1@example.com"}, {"email": "e2@example.com"}]
        await drop(publisher, {"tenant": known_tenant, "batchRef": "evented", "records": records})
        seen: list[dict] = []

        async def collect():
            while (message := await queue.get(fail=False)) is not None:
                await message.ack()
                body = orjson.loads(message.body)
                if body.get("tenant") == known_tenant:
                    seen.append(body)
            return any(body["type"] == IMPEX_BATCH_COMPLETED for body in seen) and any(
                body["type"] == "customer.imported" for body in seen
            )

        await eventually(collect, timeout=DEADLINE)
    finally:
        await connection.close()
    (completed,) = [body for body in seen if body["type"] == IMPEX_BATCH_COMPLETED]
    (imported,) = [body for body in seen if body["type"].startswith("customer.")]
    assert imported["type"] == "customer.imported" and imported["batchRef"] == "evented"
    assert len(imported["created"]) == 2 and imported["updated"] == []
    assert "email" not in orjson.dumps(imported).decode()
    assert completed["batch"]["batchRef"] == "evented"
    assert completed["batch"]["state"] == "COMPLETED" and completed["batch"]["imported"] == 2


class FailingRunner(BatchRunner):
    """A runner whose every attempt fails (a bug, a poisoned chunk, ...)."""

    async def run(self, tenant: str, batch_id: uuid.UUID) -> str | None:
        raise RuntimeError("this batch always fails")


async def test_a_batch_that_keeps_failing_is_dead_lettered_and_ends_in_error(
    pool, test_settings, known_tenant, tmp_path
):
    """After the queue's delivery limit the message goes to the dead-letter exchange; the
    worker's dead-letter consumer then ends its batch ERROR with the reason."""
    service = ImportService(pool)
    batch = await service.create_batch(known_tenant, {"batchRef": "doomed"})

    async def one_record():
        yield b'{"email": "d@example.com"}\n'

    await service.upload_file(known_tenant, batch["id"], "application/x-ndjson", one_record())
    await service.change_state(known_tenant, {"batchId": batch["id"], "state": "READY"})
    validator = Validator()
    runner = FailingRunner(pool, drop_dir=str(tmp_path), validator=validator)
    consumer = Consumer(
        test_settings.amqp_url,
        [
            Subscription(IMPORTS_QUEUE, import_handler(runner, pool, drop_dir=str(tmp_path))),
            Subscription(IMPORTS_DEAD_LETTER_QUEUE, dead_letter_handler(pool)),
        ],
        retry_delay=0.01,
        max_retry_delay=0.05,
    )
    consumer.start()
    publisher = Publisher(test_settings.amqp_url)
    try:
        # What the outbox relay would publish for READY (no relay runs in this test).
        await drop(publisher, {"tenant": known_tenant, "batchId": batch["id"]})
        ended = await batch_by_ref(pool, known_tenant, "doomed")
    finally:
        await publisher.close()
        await consumer.stop(grace=2)
        validator.close()
    assert ended["state"] == "ERROR"
    assert "failed too many times" in ended["error_message"]
    assert "RuntimeError" in ended["error_message"]
    async with pool.acquire() as conn:
        (event,) = await events_of(conn, known_tenant, IMPEX_BATCH_FAILED)
    assert event["batch"]["state"] == "ERROR"


class DeadLetter:
    """What the dead-letter consumer receives: the body and RabbitMQ's x-death header."""

    def __init__(self, body: dict, reason: str) -> None:
        self.body = orjson.dumps(body)
        self.headers = {"x-death": [{"reason": reason, "queue": IMPORTS_QUEUE, "count": 1}]}


async def test_an_interrupted_batch_that_moved_on_is_queued_again_not_failed(pool, known_tenant):
    """Killed workers use up deliveries too. A batch with no error since its last chunk that
    has progressed since it was last re-queued gets a fresh message; without progress since,
    it ends ERROR."""
    service = ImportService(pool)
    batch = await service.create_batch(known_tenant, {"batchRef": "interrupted"})

    async def records():
        yield ndjson_bytes([{"email": f"i{n}@example.com"} for n in range(20)])

    await service.upload_file(known_tenant, batch["id"], "application/x-ndjson", records())
    await service.change_state(known_tenant, {"batchId": batch["id"], "state": "READY"})
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE impex.batches SET state = 'PROCESSING', processed = 10, imported = 10 "
            "WHERE id = $1::uuid",
            batch["id"],
        )
    handle = dead_letter_handler(pool)
    message = {"tenant": known_tenant, "batchId": batch["id"]}
    await handle(DeadLetter(message, "delivery_limit"))

    async def state_and_messages():
        async with pool.acquire() as conn:
            state, requeued_at = await conn.fetchrow(
                "SELECT state, requeued_at FROM impex.batches WHERE id = $1::uuid", batch["id"]
            )
            queued = await conn.fetchval(
                "SELECT count(*) FROM customer.outbox WHERE tenant_id = $1 AND routing_key = $2",
                known_tenant,
                CUSTOMERS_IMPORT,
            )
        return state, requeued_at, queued

    assert await state_and_messages() == ("PROCESSING", 10, 2)  # READY's message, and a new one
    await handle(DeadLetter(message, "delivery_limit"))
    state, _, queued = await state_and_messages()
    assert (state, queued) == ("ERROR", 2)
    async with pool.acquire() as conn:
        reason = await conn.fetchval(
            "SELECT error_message FROM impex.batches WHERE id = $1::uuid", batch["id"]
        )
    assert "failed too many times" in reason
