"""Imports end to end through the gateway: upload-customers, the batch API, the CLI, and a worker
killed (SIGKILL) mid-import several times that still ends with exactly the right customers."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import aio_pika
import asyncpg
import orjson

from shared.amqp import (
    CUSTOMER_IMPORTED,
    CUSTOMERS_IMPORT,
    IMPEX_BATCH_COMPLETED,
    IMPEX_EVENTS_EXCHANGE,
    IMPEX_EXCHANGE,
)
from tests.e2e.conftest import ROOT
from tests.support.imports import ENDED, csv_bytes, mark_ready, uploaded_csv_batch
from tests.support.waiting import eventually

CUSTOMERS = "/services/customerservice/api/v2"
IMPORT = "/services/impex/api/import"
DEADLINE = 60.0


async def wait_ended(http, base: str, location: str, headers: dict) -> dict:
    async def probe():
        async with http.get(f"{base}{location}", headers=headers) as response:
            body = await response.json()
        return body if body["state"] in ENDED else None

    return await eventually(probe, timeout=DEADLINE, interval=0.1)


async def test_upload_customers_answers_202_with_the_public_batch_location(
    running_suite, http, client
):
    """The bulk endpoint answers at once; its Location is the batch's public path, which
    shows the import completing; the customers are then there."""
    base = running_suite.base_url
    body = [
        {"customerRef": "UP-1", "email": "up1@example.com", "firstName": "Up"},
        {"customerRef": "UP-2", "email": "not-an-email"},
    ]
    async with http.post(
        f"{base}{CUSTOMERS}/upload-customers", json=body, headers=client.headers
    ) as response:
        assert response.status == 202
        batch = await response.json()
        location = response.headers["Location"]
    assert location == f"{IMPORT}/batch/{batch['id']}"
    done = await wait_ended(http, base, location, client.headers)
    assert (done["state"], done["total"], done["imported"], done["failed"]) == (
        "COMPLETED", 2, 1, 1,
    )  # fmt: skip
    async with http.get(f"{base}{CUSTOMERS}/customers/UP-1/ref", headers=client.headers) as r:
        assert r.status == 200
        assert (await r.json())["firstName"] == "Up"


async def test_batch_api_through_the_gateway(running_suite, http, client):
    """Create (201 + public Location), upload a CSV (202), READY, follow to COMPLETED, find it
    by batchRef, page through its row errors."""
    base = running_suite.base_url
    async with http.post(
        f"{base}{IMPORT}/batch/", json={"batchRef": "gw-1"}, headers=client.headers
    ) as response:
        assert response.status == 201
        batch = await response.json()
        assert response.headers["Location"] == f"{IMPORT}/batch/{batch['id']}"
    rows = [
        ["GW-1", "gw1@example.com", "Ada, Countess", "London", "GB", "A|B"],
        ["GW-2", "gw2@example.com", "Line\nBreak", "Paris", "FR", ""],
        ["GW-3", "broken", "", "", "", ""],
        ["GW-4", "gw4@example.com", "", "Nowhere", "XX", ""],
    ]
    data = csv_bytes(
        ["customerRef", "email", "firstName", "address.city", "address.countryCode",
         "taxExemptions"],
        rows, bom=True,
    )  # fmt: skip
    async with http.post(
        f"{base}{IMPORT}/batch/{batch['id']}/file",
        data=data,
        headers={**client.headers, "Content-Type": "text/csv"},
    ) as response:
        assert response.status == 202
        assert (await response.json())["state"] == "CREATED"
    async with http.put(
        f"{base}{IMPORT}/batch/state-change",
        params={"batchId": batch["id"], "state": "READY"},
        headers=client.headers,
    ) as response:
        assert response.status == 200
    done = await wait_ended(http, base, f"{IMPORT}/batch/{batch['id']}", client.headers)
    assert (done["state"], done["processed"], done["imported"], done["failed"]) == (
        "COMPLETED", 4, 2, 2,
    )  # fmt: skip
    async with http.get(
        f"{base}{IMPORT}/batch", params={"batchRef": "gw-1"}, headers=client.headers
    ) as response:
        listing = await response.json()
    assert [b["id"] for b in listing["results"]] == [batch["id"]]
    async with http.get(
        f"{base}{IMPORT}/batch/{batch['id']}/errors",
        params={"pageSize": 1, "page": 1},
        headers=client.headers,
    ) as response:
        errors = await response.json()
    assert errors["total"] == 2
    assert errors["results"][0]["row"] == 4
    assert "addresses.0.countryCode" in errors["results"][0]["errors"]
    async with http.get(f"{base}{CUSTOMERS}/customers/GW-1/ref", headers=client.headers) as r:
        ada = await r.json()
    assert ada["firstName"] == "Ada, Countess" and ada["taxExemptions"] == ["A", "B"]
    assert ada["defaultAddress"]["city"] == "London"


async def test_cli_imports_a_file_and_prints_counters_and_row_errors(
    running_suite, client, tmp_path
):
    """`python -m customer_service import FILE --tenant T` waits for the end and reports it."""
    path = tmp_path / "people.csv"
    path.write_bytes(
        csv_bytes(["customerRef", "email"], [["CLI-1", "cli1@example.com"], ["CLI-2", "nope"]])
    )
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "customer_service", "import", str(path), "--tenant", client.tenant],
        env=running_suite.env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "COMPLETED" in result.stdout
    assert "imported" in result.stdout and "failed" in result.stdout
    assert "nope" in result.stdout and "Not a valid email address." in result.stdout


KILL_ROWS = 50_000
KILLS = 3


def kill_file() -> tuple[bytes, dict[str, str], set[int]]:
    """A CSV of KILL_ROWS records: every 97th invalid, and (to test last-one-wins across the
    crash points) every 1000th repeating an earlier customer with a new first name."""
    rows, expected, invalid = [], {}, set()
    for n in range(1, KILL_ROWS + 1):
        if n % 97 == 0:
            rows.append([f"KX-{n}", f"invalid-{n}", "Bad"])
            invalid.add(n)
        elif n % 1000 == 0:
            earlier = n - 500
            rows.append([f"KX-{earlier}", f"k{earlier}@example.com", f"Again-{n}"])
            expected[f"KX-{earlier}"] = f"Again-{n}"
        else:
            rows.append([f"KX-{n}", f"k{n}@example.com", f"Name-{n}"])
            expected[f"KX-{n}"] = f"Name-{n}"
    return csv_bytes(["customerRef", "email", "firstName"], rows), expected, invalid


async def test_worker_killed_mid_import_resumes_to_exactly_the_right_customers(
    running_suite, http, client
):
    """SIGKILL the worker whenever a new chunk has committed, three times, restarting it each
    time: the batch still ends COMPLETED with every valid record stored once, every invalid
    one reported once, and each customer named once by the customer.imported events."""
    base, suite = running_suite.base_url, running_suite.suite
    data, expected, invalid = kill_file()
    batch_id = await uploaded_csv_batch(http, base, client.headers, data)
    db = await asyncpg.connect(running_suite.env["DATABASE_URL"])
    try:

        async def processed() -> int:
            query = "SELECT processed FROM impex.batches WHERE id = $1::uuid"
            return await db.fetchval(query, batch_id)

        await mark_ready(http, base, client.headers, batch_id)
        kill_points = []
        for kill in range(KILLS):
            last = await processed()
            # Past a new checkpoint; then (every other time) inside the next chunk's open
            # transaction, so both a clean cut and a half-written chunk are tried.
            await eventually(lambda last=last: _moved_past(processed, last), timeout=DEADLINE,
                             interval=0.01)  # fmt: skip
            if kill % 2:
                await eventually(lambda: _in_chunk_transaction(db), timeout=DEADLINE, interval=0)
            kill_points.append(await processed())
            suite.stop_service("impex_worker", sig=signal.SIGKILL)
            suite.start_service("impex_worker")
        assert all(0 < point < KILL_ROWS for point in kill_points), kill_points
        done = await wait_ended(http, base, f"{IMPORT}/batch/{batch_id}", client.headers)
        assert (done["state"], done["total"], done["processed"]) == (
            "COMPLETED", KILL_ROWS, KILL_ROWS,
        )  # fmt: skip
        assert (done["imported"], done["failed"]) == (KILL_ROWS - len(invalid), len(invalid))
        stored = await db.fetch(
            "SELECT customer_ref, email, first_name FROM customer.customers "
            "WHERE tenant_id = $1 AND NOT deleted",
            client.tenant,
        )
        assert len(stored) == len(expected)
        assert {row["customer_ref"]: row["first_name"] for row in stored} == expected
        assert all(row["email"] == f"k{row['customer_ref'][3:]}@example.com" for row in stored)
        reported = await db.fetch(
            "SELECT record_no FROM impex.batch_errors WHERE batch_id = $1::uuid", batch_id
        )
        assert sorted(row["record_no"] for row in reported) == sorted(invalid)
        created = await db.fetch(
            "SELECT jsonb_array_elements(payload -> 'created') ->> 'customerRef' AS ref"
            " FROM customer.outbox WHERE tenant_id = $1 AND routing_key = $2",
            client.tenant,
            CUSTOMER_IMPORTED,
        )
        assert sorted(row["ref"] for row in created) == sorted(expected)
    finally:
        await db.close()
        if "impex_worker" not in suite.processes:
            suite.start_service("impex_worker")
        await asyncio.to_thread(suite.wait_ready, 60)


async def _in_chunk_transaction(db: asyncpg.Connection) -> bool:
    """A worker connection is inside a chunk's transaction (writing its rows)."""
    return await db.fetchval(
        """
        SELECT count(*) > 0 FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND xact_start IS NOT NULL AND backend_xid IS NOT NULL
          AND (query LIKE '%import_stage%' OR query LIKE '%impex.batch_errors%')
        """
    )


async def _moved_past(processed, last: int) -> int | None:
    """The checkpoint once it has moved past `last` (a chunk committed since)."""
    now = await processed()
    return now if now > last else None


async def upload_and_run(http, base: str, client, data: bytes, media_type: str) -> dict:
    async with http.post(f"{base}{IMPORT}/batch", json={}, headers=client.headers) as r:
        batch = await r.json()
    async with http.post(
        f"{base}{IMPORT}/batch/{batch['id']}/file",
        data=data,
        headers={**client.headers, "Content-Type": media_type},
    ) as response:
        assert response.status == 202
    async with http.put(
        f"{base}{IMPORT}/batch/state-change",
        params={"batchId": batch["id"], "state": "READY"},
        headers=client.headers,
    ) as response:
        assert response.status == 200
    return await wait_ended(http, base, f"{IMPORT}/batch/{batch['id']}", client.headers)


async def test_ndjson_and_json_files_import_and_an_unreadable_one_errors(
    running_suite, http, client
):
    """NDJSON and a JSON array import through the gateway; a broken JSON array ends ERROR with
    the reason and imports nothing."""
    base = running_suite.base_url
    ndjson = b'{"customerRef": "NJ-1", "email": "nj1@example.com"}\n{"oops"\n'
    done = await upload_and_run(http, base, client, ndjson, "application/x-ndjson")
    assert (done["state"], done["imported"], done["failed"]) == ("COMPLETED", 1, 1)
    array = b'[{"customerRef": "JA-1", "email": "ja1@example.com"}]'
    done = await upload_and_run(http, base, client, array, "application/json")
    assert (done["state"], done["imported"]) == ("COMPLETED", 1)
    broken = b'[{"customerRef": "JB-1", "email": "jb1@example.com"} {"email": "x@y.z"}]'
    done = await upload_and_run(http, base, client, broken, "application/json")
    assert done["state"] == "ERROR" and "malformed" in done["errorMessage"]
    async with http.get(f"{base}{CUSTOMERS}/customers/JB-1/ref", headers=client.headers) as r:
        assert r.status == 404


async def test_records_dropped_on_the_queue_are_imported_and_announced(running_suite, http, client):
    """A trusted producer's records drop (exchange `impex`) is imported by the running worker;
    the batch, found by its batchRef through the gateway, ends COMPLETED and
    impex.batch.completed is published on impex.events."""
    connection = await aio_pika.connect(running_suite.env["AMQP_URL"])
    try:
        channel = await connection.channel()
        events = await channel.declare_queue(exclusive=True, auto_delete=True)
        await events.bind(await channel.get_exchange(IMPEX_EVENTS_EXCHANGE), "impex.batch.*")
        body = {
            "tenant": client.tenant,
            "batchRef": "dropped",
            "records": [{"customerRef": "DR-1", "email": "dr1@example.com"}],
        }
        exchange = await channel.get_exchange(IMPEX_EXCHANGE)
        await exchange.publish(aio_pika.Message(orjson.dumps(body)), routing_key=CUSTOMERS_IMPORT)

        async def completed_event():
            message = await events.get(fail=False)
            if message is None:
                return None
            await message.ack()
            event = orjson.loads(message.body)
            return event if event["tenant"] == client.tenant else None

        event = await eventually(completed_event, timeout=DEADLINE, interval=0.1)
    finally:
        await connection.close()
    assert event["type"] == IMPEX_BATCH_COMPLETED
    assert event["batch"]["batchRef"] == "dropped" and event["batch"]["imported"] == 1
    base = running_suite.base_url
    async with http.get(
        f"{base}{IMPORT}/batch", params={"batchRef": "dropped"}, headers=client.headers
    ) as r:
        (batch,) = (await r.json())["results"]
    assert batch["state"] == "COMPLETED"
