"""The importer against the real PostgreSQL: formats, row semantics, events, resuming, and two
workers on one batch. Batches are made with the import API's own service and run directly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from customer_service.imports.service import ImportService
from impex_worker.imports.runner import BatchRunner
from impex_worker.imports.validation import Validator
from impex_worker.metrics import REGISTRY
from shared.amqp import (
    CUSTOMER_CREATED,
    CUSTOMER_IMPORTED,
    CUSTOMER_UPDATED,
    IMPEX_BATCH_COMPLETED,
    IMPEX_BATCH_FAILED,
)
from shared.db import tenant_transaction
from tests.support.imports import (
    batch_row,
    csv_bytes,
    customers_of,
    events_of,
    imported_of,
    json_bytes,
    ndjson_bytes,
    row_errors,
)
from tests.support.waiting import eventually

MEDIA_TYPES = {"csv": "text/csv", "ndjson": "application/x-ndjson", "json": "application/json"}


@pytest.fixture
async def validator() -> AsyncIterator[Validator]:
    validator = Validator()
    yield validator
    validator.close()


@pytest.fixture
def runner(pool, validator, tmp_path) -> BatchRunner:
    return BatchRunner(pool, drop_dir=str(tmp_path), validator=validator, chunk_records=3)


async def pieces(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def ready_batch(pool: asyncpg.Pool, tenant: str, data: bytes, file_format: str) -> uuid.UUID:
    """A READY batch holding `data` as its uploaded file, made through the API's service."""
    service = ImportService(pool)
    batch = await service.create_batch(tenant, None)
    await service.upload_file(tenant, batch["id"], MEDIA_TYPES[file_format], pieces(data))
    await service.change_state(tenant, {"batchId": batch["id"], "state": "READY"})
    return uuid.UUID(batch["id"])


async def import_file(
    runner: BatchRunner, pool: asyncpg.Pool, tenant: str, data: bytes, file_format: str = "csv"
) -> asyncpg.Record:
    batch_id = await ready_batch(pool, tenant, data, file_format)
    await runner.run(tenant, batch_id)
    async with pool.acquire() as conn:
        return await batch_row(conn, tenant, batch_id)


CSV_HEADER = [
    "customerRef", "email", "firstName", "lastName", "address.address1", "address.city",
    "address.countryCode", "taxExemptions", "attributeGroups.loyalty.tier",
    "optin_preferences.email.opt_in_active", "active",
]  # fmt: skip
CSV_ROWS = [
    ["C-1", "ada@example.com", "Ada", "Lovelace", "1 Lane, Flat 2", "London", "gb",
     "VAT|DUTY", "gold", "true", "TRUE"],
    ["C-2", "grace@example.com", 'Grace "Amazing"', "Hopper", "2 Road\nSecond line", "Arlington",
     "US", "", "", "false", "false"],
]  # fmt: skip


async def test_csv_with_dotted_columns_bom_and_quoted_fields_creates_customers(
    runner, pool, unique_tenant
):
    """Dotted columns nest, `|` splits taxExemptions, booleans are read, a BOM is skipped, and
    quoted cells keep their commas, quotes and newlines."""
    batch = await import_file(
        runner, pool, unique_tenant, csv_bytes(CSV_HEADER, CSV_ROWS, bom=True)
    )
    assert (batch["state"], batch["total"], batch["processed"]) == ("COMPLETED", 2, 2)
    assert (batch["imported"], batch["failed"]) == (2, 0)
    async with pool.acquire() as conn:
        customers = await customers_of(conn, unique_tenant)
    ada, grace = customers["ada@example.com"], customers["grace@example.com"]
    assert ada["customer_ref"] == "C-1" and ada["first_name"] == "Ada"
    assert ada["profile"]["taxExemptions"] == ["VAT", "DUTY"]
    assert ada["profile"]["active"] is True
    assert ada["profile"]["attributeGroups"] == {"loyalty": {"attributes": {"tier": "gold"}}}
    assert ada["profile"]["optin_preferences"]["email"]["opt_in_active"] is True
    (address,) = ada["profile"]["addresses"]
    assert address["address1"] == "1 Lane, Flat 2" and address["countryCode"] == "GB"
    assert grace["first_name"] == 'Grace "Amazing"'
    assert grace["profile"]["addresses"][0]["address1"] == "2 Road\nSecond line"
    assert grace["profile"]["active"] is False


@pytest.mark.parametrize("file_format", ["ndjson", "json"])
async def test_ndjson_and_json_array_files_import_like_csv(
    runner, pool, unique_tenant, file_format
):
    """The same records as NDJSON or a JSON array give the same customers."""
    records = [
        {"customerRef": "N-1", "email": "n1@example.com", "addresses": [{"city": "Oslo"}]},
        {"customerRef": "N-2", "email": "n2@example.com", "taxExemptions": ["A"]},
        {"customerRef": "N-3", "email": "n3@example.com", "attributeGroups": {"g": None}},
    ]
    data = ndjson_bytes(records) if file_format == "ndjson" else json_bytes(records)
    batch = await import_file(runner, pool, unique_tenant, data, file_format)
    assert (batch["state"], batch["imported"], batch["failed"]) == ("COMPLETED", 3, 0)
    async with pool.acquire() as conn:
        customers = await customers_of(conn, unique_tenant)
    assert sorted(c["customer_ref"] for c in customers.values()) == ["N-1", "N-2", "N-3"]
    assert customers["n1@example.com"]["profile"]["addresses"][0]["city"] == "Oslo"


async def test_malformed_and_invalid_rows_become_row_errors_and_the_rest_is_imported(
    runner, pool, unique_tenant
):
    """A row with the wrong cell count, bad quoting or an invalid field is a row error with its
    record number (the header is not a record); the valid rows are stored."""
    data = (
        b"customerRef,email,dob\n"
        b"R-1,ok1@example.com,01-02-1990\n"
        b"R-2,not-an-email,01-02-1990\n"
        b"R-3,extra@example.com,01-02-1990,surplus\n"
        b"R-4,ok2@example.com,31-02-1990\n"
        b'R-5,"broken"quote@example.com,01-01-1990\n'
        b"R-6,ok3@example.com,\n"
    )
    batch = await import_file(runner, pool, unique_tenant, data)
    assert (batch["state"], batch["processed"], batch["imported"], batch["failed"]) == (
        "COMPLETED", 6, 2, 4,
    )  # fmt: skip
    async with pool.acquire() as conn:
        errors = await row_errors(conn, unique_tenant, batch["id"])
        customers = await customers_of(conn, unique_tenant)
    assert [e["record_no"] for e in errors] == [2, 3, 4, 5]
    assert errors[0]["customer_ref"] == "R-2" and "email" in errors[0]["errors"]
    assert "_record" in errors[1]["errors"] and errors[1]["email"] == "extra@example.com"
    assert "dob" in errors[2]["errors"]
    assert "_record" in errors[3]["errors"]
    assert set(customers) == {"ok1@example.com", "ok3@example.com"}


@pytest.mark.parametrize(
    ("data", "file_format", "reason"),
    [
        (b"customerRef,email\nX-1,\xff\xfe@example.com\n", "csv", "not UTF-8"),
        (b'{"email": "a@example.com"}', "json", "not a JSON array"),
        (b'[{"email": "a@example.com"}, {"email": "b@example.com"', "json", "not closed"),
        (b"email,email\na@example.com,b@example.com\n", "csv", "twice"),
    ],
)
async def test_unreadable_file_ends_the_batch_in_error_with_nothing_imported(
    runner, pool, unique_tenant, data, file_format, reason
):
    """The whole file is checked first: an unreadable one imports nothing, ends ERROR with a
    clear message, and announces impex.batch.failed."""
    batch = await import_file(runner, pool, unique_tenant, data, file_format)
    assert batch["state"] == "ERROR"
    assert reason in batch["error_message"]
    assert batch["completed_at"] is not None
    async with pool.acquire() as conn:
        assert await customers_of(conn, unique_tenant) == {}
        (event,) = await events_of(conn, unique_tenant, IMPEX_BATCH_FAILED)
        stored = await conn.fetchval(
            "SELECT count(*) FROM impex.batch_files WHERE batch_id = $1", batch["id"]
        )
    assert event["batch"]["id"] == str(batch["id"]) and event["batch"]["state"] == "ERROR"
    assert stored == 0  # the content goes when the batch ends


async def test_rerunning_a_file_changes_nothing(runner, pool, unique_tenant):
    """The second import of the same file matches every record to its customer and finds
    nothing to change: no write, no event, no duplicate."""
    data = csv_bytes(CSV_HEADER, CSV_ROWS)
    await import_file(runner, pool, unique_tenant, data)
    async with pool.acquire() as conn:
        before = await customers_of(conn, unique_tenant)
    second = await import_file(runner, pool, unique_tenant, data)
    assert (second["state"], second["imported"], second["failed"]) == ("COMPLETED", 2, 0)
    async with pool.acquire() as conn:
        after = await customers_of(conn, unique_tenant)
        created, updated = await imported_of(conn, unique_tenant)
        chunks = await events_of(conn, unique_tenant, CUSTOMER_IMPORTED)
        completed = await events_of(conn, unique_tenant, IMPEX_BATCH_COMPLETED)
    assert after == before
    # The first run's one chunk announced both; the second run changed nothing, said nothing.
    assert (len(chunks), len(created), len(updated), len(completed)) == (1, 2, 0, 2)


async def test_records_match_by_customer_ref_then_email_and_merge(runner, pool, unique_tenant):
    """A record with a known customerRef updates that customer; one whose customerRef is
    unknown (or absent) but whose email is known updates that one; fields the record leaves
    out keep their values."""
    first = ndjson_bytes(
        [
            {"customerRef": "M-1", "email": "m1@example.com", "firstName": "One", "phone": "1"},
            {"customerRef": "M-2", "email": "m2@example.com", "firstName": "Two"},
            {"email": "m3@example.com", "firstName": "Three"},
        ]
    )
    await import_file(runner, pool, unique_tenant, first, "ndjson")
    async with pool.acquire() as conn:
        ids = {k: v["id"] for k, v in (await customers_of(conn, unique_tenant)).items()}
    second = ndjson_bytes(
        [
            {"customerRef": "M-1", "email": "m1.new@example.com", "firstName": "Uno"},
            {"customerRef": "M-2-NEW", "email": "M2@EXAMPLE.COM", "lastName": "Dos"},
            {"email": "m3@example.com", "lastName": "Tres"},
            {"customerRef": "M-4", "email": "m4@example.com"},
        ]
    )
    batch = await import_file(runner, pool, unique_tenant, second, "ndjson")
    assert (batch["imported"], batch["failed"]) == (4, 0)
    async with pool.acquire() as conn:
        customers = await customers_of(conn, unique_tenant)
        _, updated = await imported_of(conn, unique_tenant)
    assert len(customers) == 4
    uno = customers["m1.new@example.com"]
    assert (uno["id"], uno["first_name"], uno["phone"]) == (ids["m1@example.com"], "Uno", "1")
    dos = customers["m2@example.com"]
    assert dos["id"] == ids["m2@example.com"] and dos["email"] == "M2@EXAMPLE.COM"
    assert (dos["customer_ref"], dos["first_name"], dos["last_name"]) == ("M-2-NEW", "Two", "Dos")
    tres = customers["m3@example.com"]
    assert (tres["id"], tres["first_name"], tres["last_name"]) == (
        ids["m3@example.com"], "Three", "Tres",
    )  # fmt: skip
    assert {e["id"] for e in updated} == {
        str(ids[e]) for e in ("m1@example.com", "m2@example.com", "m3@example.com")
    }


async def test_duplicates_in_one_file_end_as_the_last_one_says(runner, pool, unique_tenant):
    """Records apply in file order, within a chunk and across chunks (3 records each here):
    the last record for a customer wins, and each customer exists once."""
    records = [
        {"customerRef": "D-1", "email": "d1@example.com", "firstName": "first"},
        {"customerRef": "D-1", "email": "d1@example.com", "firstName": "second"},
        {"customerRef": "D-2", "email": "d2@example.com", "firstName": "a"},
        {"customerRef": "D-3", "email": "d3@example.com"},
        {"customerRef": "D-2", "email": "d2@example.com", "firstName": "b"},
        {"email": "d1@example.com", "firstName": "last"},
    ]
    batch = await import_file(runner, pool, unique_tenant, ndjson_bytes(records), "ndjson")
    assert (batch["imported"], batch["failed"]) == (6, 0)
    async with pool.acquire() as conn:
        customers = await customers_of(conn, unique_tenant)
        created, updated = await imported_of(conn, unique_tenant)
    assert {k: v["first_name"] for k, v in customers.items()} == {
        "d1@example.com": "last", "d2@example.com": "b", "d3@example.com": None,
    }  # fmt: skip
    # Chunk 2 updates D-2 (made by chunk 1); chunk 2 then updates D-1 by email.
    assert len(created) == 3 and sorted(u["customerRef"] for u in updated) == ["D-1", "D-2"]


async def test_identifier_taken_by_another_customer_is_a_row_error(runner, pool, unique_tenant):
    """As with the API's 409: an email, customerRef or alternateCustomerRef another customer
    holds is a row error naming the field, and the rest of the chunk is stored."""
    await import_file(
        runner, pool, unique_tenant,
        ndjson_bytes([
            {"customerRef": "U-1", "email": "u1@example.com", "alternateCustomerRef": "ALT-1"},
            {"customerRef": "U-2", "email": "u2@example.com"},
        ]),
        "ndjson",
    )  # fmt: skip
    batch = await import_file(
        runner, pool, unique_tenant,
        ndjson_bytes([
            {"customerRef": "U-1", "email": "u2@example.com"},
            {"customerRef": "U-3", "email": "u3@example.com", "alternateCustomerRef": "ALT-1"},
            {"customerRef": "U-4", "email": "u4@example.com"},
        ]),
        "ndjson",
    )  # fmt: skip
    assert (batch["imported"], batch["failed"]) == (1, 2)
    async with pool.acquire() as conn:
        errors = await row_errors(conn, unique_tenant, batch["id"])
        customers = await customers_of(conn, unique_tenant)
    assert [(e["record_no"], e["errors"]) for e in errors] == [
        (1, {"email": ["already in use"]}),
        (2, {"alternateCustomerRef": ["already in use"]}),
    ]
    assert set(customers) == {"u1@example.com", "u2@example.com", "u4@example.com"}


async def test_each_chunk_announces_its_customers_by_ids_only(runner, pool, unique_tenant):
    """One customer.imported per committed chunk (3 records each here), naming every created
    customer once, ids only; no per-row customer.created / customer.updated."""
    records = [{"customerRef": f"E-{n}", "email": f"e{n}@example.com"} for n in range(7)]
    batch = await import_file(runner, pool, unique_tenant, ndjson_bytes(records), "ndjson")
    async with pool.acquire() as conn:
        customers = await customers_of(conn, unique_tenant)
        events = await events_of(conn, unique_tenant, CUSTOMER_IMPORTED)
        per_row = [
            *await events_of(conn, unique_tenant, CUSTOMER_CREATED),
            *await events_of(conn, unique_tenant, CUSTOMER_UPDATED),
        ]
    assert per_row == []
    assert [len(e["created"]) for e in events] == [3, 3, 1]
    assert sorted(c["id"] for e in events for c in e["created"]) == sorted(
        str(c["id"]) for c in customers.values()
    )
    event = events[0]
    assert set(event) == {
        "eventId", "type", "tenant", "occurredAt", "batchId", "batchRef", "created", "updated",
    }  # fmt: skip
    assert (event["tenant"], event["batchId"], event["updated"]) == (
        unique_tenant, str(batch["id"]), [],
    )  # fmt: skip
    assert set(event["created"][0]) == {"id", "customerRef", "alternateCustomerRef"}


class CrashingRunner(BatchRunner):
    """Dies (like a killed worker) when about to write chunk number `crash_at` of this run."""

    def __init__(self, *args, crash_at: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.crash_at = crash_at
        self.writes = 0

    async def _write(self, *args, **kwargs):
        self.writes += 1
        if self.writes == self.crash_at:
            raise RuntimeError("killed")
        return await super()._write(*args, **kwargs)


async def test_a_crashed_import_resumes_from_its_checkpoint_without_loss_or_duplicates(
    pool, validator, tmp_path, unique_tenant
):
    """Chunks committed before a crash stay; the next run skips exactly them. The end state is
    the same as one uninterrupted run: every record once, every event once."""
    records = [
        {"customerRef": f"K-{n}", "email": f"k{n}@example.com"} if n % 5 else {"email": "bad"}
        for n in range(1, 24)
    ]
    batch_id = await ready_batch(pool, unique_tenant, ndjson_bytes(records), "ndjson")
    for crash_at in (3, 2, 4):
        crashing = CrashingRunner(
            pool, drop_dir=str(tmp_path), validator=validator, chunk_records=3, crash_at=crash_at
        )
        with pytest.raises(RuntimeError):
            await crashing.run(unique_tenant, batch_id)
    async with pool.acquire() as conn:
        middle = await batch_row(conn, unique_tenant, batch_id)
    assert middle["state"] == "PROCESSING" and 0 < middle["processed"] < 23
    runner = BatchRunner(pool, drop_dir=str(tmp_path), validator=validator, chunk_records=3)
    assert await runner.run(unique_tenant, batch_id) == "COMPLETED"
    async with pool.acquire() as conn:
        batch = await batch_row(conn, unique_tenant, batch_id)
        customers = await customers_of(conn, unique_tenant)
        created, _ = await imported_of(conn, unique_tenant)
        errors = await row_errors(conn, unique_tenant, batch_id)
    assert (batch["processed"], batch["imported"], batch["failed"]) == (23, 19, 4)
    assert sorted(c["customer_ref"] for c in customers.values()) == sorted(
        f"K-{n}" for n in range(1, 24) if n % 5
    )
    assert len(created) == 19
    assert [e["record_no"] for e in errors] == [5, 10, 15, 20]


async def test_two_workers_never_import_the_same_batch_at_once(
    pool, validator, tmp_path, unique_tenant
):
    """Both get the batch (a duplicate message); one imports it, the other waits, then finds
    it ended. Every customer exists once and is announced once."""
    records = [{"customerRef": f"W-{n}", "email": f"w{n}@example.com"} for n in range(40)]
    batch_id = await ready_batch(pool, unique_tenant, ndjson_bytes(records), "ndjson")
    runners = [
        BatchRunner(pool, drop_dir=str(tmp_path), validator=validator, chunk_records=4)
        for _ in range(2)
    ]
    results = await asyncio.gather(*(r.run(unique_tenant, batch_id) for r in runners))
    assert sorted(results, key=str) == ["COMPLETED", None]
    async with pool.acquire() as conn:
        batch = await batch_row(conn, unique_tenant, batch_id)
        customers = await customers_of(conn, unique_tenant)
        created, _ = await imported_of(conn, unique_tenant)
        completed = await events_of(conn, unique_tenant, IMPEX_BATCH_COMPLETED)
    assert (batch["processed"], batch["imported"]) == (40, 40)
    assert len(customers) == 40 and len(created) == 40 and len(completed) == 1


async def test_a_worker_that_finds_the_batch_locked_too_long_leaves_it(
    pool, validator, tmp_path, unique_tenant
):
    """A batch held by another live worker is left to it after the wait (that worker holds its
    own message and ends the batch)."""
    batch_id = await ready_batch(
        pool, unique_tenant, ndjson_bytes([{"email": "l@x.com"}]), "ndjson"
    )
    impatient = BatchRunner(
        pool, drop_dir=str(tmp_path), validator=validator, chunk_records=4, lock_wait=0.2
    )
    from shared.imports.chunks import batch_lock_key

    async with pool.acquire() as holder:
        await holder.execute("SELECT pg_advisory_lock($1)", batch_lock_key(unique_tenant, batch_id))
        assert await impatient.run(unique_tenant, batch_id) is None
        await holder.execute("SELECT pg_advisory_unlock_all()")
    assert await impatient.run(unique_tenant, batch_id) == "COMPLETED"


async def test_aborting_stops_the_import_between_chunks(runner, pool, unique_tenant):
    """An ABORTED batch is left as it is: the worker stops and does not complete it."""
    records = [{"email": f"a{n}@example.com"} for n in range(10)]
    batch_id = await ready_batch(pool, unique_tenant, ndjson_bytes(records), "ndjson")
    await ImportService(pool).change_state(
        unique_tenant, {"batchId": str(batch_id), "state": "ABORTED"}
    )
    assert await runner.run(unique_tenant, batch_id) is None
    async with pool.acquire() as conn:
        batch = await batch_row(conn, unique_tenant, batch_id)
        assert await customers_of(conn, unique_tenant) == {}
    assert batch["state"] == "ABORTED" and batch["error_message"] == "Aborted by the client."


async def test_the_email_matching_function_answers_for_the_transactions_tenant_only(
    pool, runner, unique_tenant
):
    """customer.live_customer_ids_by_email bypasses row-level security to use its index, so it
    must refuse any tenant but the one the transaction is bound to."""
    data = ndjson_bytes([{"email": "Fn@Example.com"}])
    await import_file(runner, pool, unique_tenant, data, "ndjson")
    query = "SELECT count(*) FROM customer.live_customer_ids_by_email($1, $2)"
    async with tenant_transaction(pool, unique_tenant) as conn:
        assert await conn.fetchval(query, unique_tenant, ["fn@example.com"]) == 1
    async with tenant_transaction(pool, unique_tenant + "_other") as conn:
        assert await conn.fetchval(query, unique_tenant, ["fn@example.com"]) == 0


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _import_samples() -> dict[str, float]:
    return {
        "imported": _sample("import_rows_total", outcome="imported"),
        "failed": _sample("import_rows_total", outcome="failed"),
        "COMPLETED": _sample("import_batches_finished_total", state="COMPLETED"),
        "ERROR": _sample("import_batches_finished_total", state="ERROR"),
        "ABORTED": _sample("import_batches_finished_total", state="ABORTED"),
        "durations": _sample("import_batch_duration_seconds_count"),
    }


def _moved(before: dict[str, float]) -> dict[str, float]:
    after = _import_samples()
    return {name: after[name] - before[name] for name in after if after[name] != before[name]}


async def test_an_import_moves_the_row_and_batch_metrics(runner, pool, unique_tenant):
    """Rows by outcome, the batch by its final state, its duration; labels carry neither ids
    nor personal data."""
    before = _import_samples()
    rows = [["M-1", "m1@example.com"], ["M-2", "not-an-email"], ["M-3", "m3@example.com"]]
    batch = await import_file(
        runner, pool, unique_tenant, csv_bytes(["customerRef", "email"], rows)
    )
    assert (batch["imported"], batch["failed"]) == (2, 1)
    assert _moved(before) == {"imported": 2, "failed": 1, "COMPLETED": 1, "durations": 1}
    for family in REGISTRY.collect():
        if family.name.startswith("import_"):
            for sample in family.samples:
                assert set(sample.labels) <= {"outcome", "state", "le"}, sample
                assert unique_tenant not in str(sample.labels)
                assert "example.com" not in str(sample.labels)


async def test_batches_ending_in_error_or_aborted_are_counted(pool, unique_tenant, tmp_path):
    """An unreadable file ends ERROR; a batch aborted while the worker imports it is counted
    ABORTED by the worker that saw it (the API that aborts it keeps no import metrics)."""
    runner = BatchRunner(pool, drop_dir=str(tmp_path), validator=Validator(inline=True))
    before = _import_samples()
    await import_file(runner, pool, unique_tenant, b"email,email\na@x.com,b@x.com\n")
    assert _moved(before) == {"ERROR": 1, "durations": 1}

    class AbortingValidator(Validator):
        """Aborts the batch (through the API's service) once the import is under way."""

        async def check(self, records, now):
            if records[0].row > 3:
                await ImportService(pool).change_state(
                    unique_tenant, {"batchId": str(batch_id), "state": "ABORTED"}
                )
            return await super().check(records, now)

    aborting = BatchRunner(
        pool, drop_dir=str(tmp_path), validator=AbortingValidator(inline=True), chunk_records=3
    )
    records = [{"email": f"ab{n}@example.com"} for n in range(10)]
    batch_id = await ready_batch(pool, unique_tenant, ndjson_bytes(records), "ndjson")
    before = _import_samples()
    assert await aborting.run(unique_tenant, batch_id) is None
    async with pool.acquire() as conn:
        batch = await batch_row(conn, unique_tenant, batch_id)
    assert batch["state"] == "ABORTED" and batch["processed"] < 10
    moved = _moved(before)
    assert {k: v for k, v in moved.items() if k not in ("imported", "failed")} == {
        "ABORTED": 1, "durations": 1,
    }  # fmt: skip


async def test_statistics_are_refreshed_as_the_tenant_grows(runner, pool, unique_tenant):
    """ANALYZE after chunks 1, 2, 4, …: with stale statistics a growing tenant looks empty to
    the planner, which then matches keys through any tenant-first index, scanning the tenant."""

    async def analyze_count() -> int:
        async with pool.acquire() as conn:
            return await conn.fetchval(
                "SELECT analyze_count FROM pg_stat_user_tables"
                " WHERE schemaname = 'customer' AND relname = 'customers'"
            )

    before = await analyze_count()
    rows = [[f"S-{n}", f"s{n}@example.com"] for n in range(15)]  # 5 chunks of 3
    batch = await import_file(
        runner, pool, unique_tenant, csv_bytes(["customerRef", "email"], rows)
    )
    assert (batch["state"], batch["imported"]) == ("COMPLETED", 15)

    async def analyzed_three_times() -> bool:  # after chunks 1, 2 and 4 of 5
        return await analyze_count() >= before + 3

    await eventually(analyzed_three_times, timeout=5.0)


async def test_json_elements_python_cannot_build_are_row_errors_not_a_failed_batch(
    runner, pool, unique_tenant
):
    """A 5,000-digit number and 2,000-deep nesting in a JSON-array upload are row errors of
    their records; the batch completes with the others imported (it used to raise, be retried
    five times and end ERROR)."""
    deep = "[" * 2_000 + "]" * 2_000
    data = (
        f'[{{"email": "j1@example.com"}}, {{"email": "j2@example.com", "n": {"9" * 5_000}}},'
        f' {{"email": "j3@example.com", "deep": {deep}}}, {{"email": "j4@example.com"}}]'
    ).encode()
    batch = await import_file(runner, pool, unique_tenant, data, "json")
    assert (batch["state"], batch["imported"], batch["failed"]) == ("COMPLETED", 2, 2)
    async with pool.acquire() as conn:
        errors = await row_errors(conn, unique_tenant, batch["id"])
        customers = await customers_of(conn, unique_tenant)
    assert [e["record_no"] for e in errors] == [2, 3]
    assert set(customers) == {"j1@example.com", "j4@example.com"}
