"""A note written while its customer is being deleted never outlives the erasure (issue 10.6)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from customer_service import notes_repository, repository
from shared.db import tenant_transaction
from shared.timefmt import utcnow
from tests.support.waiting import eventually

API = "/api/v2"

WAITING_FOR_A_LOCK = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


async def test_note_insert_racing_a_delete_waits_for_it_then_is_a_404(
    customer_client, headers, unique_tenant, pool: asyncpg.Pool
):
    """The delete's transaction is held open on a second connection (its very statements:
    lock, scrub, drop notes); a note POSTed meanwhile waits for it, and once it commits the
    note is refused (404) and the customer has no note."""
    created = await customer_client.post(
        f"{API}/customers", json={"email": "race@example.com"}, headers=headers
    )
    customer_id = uuid.UUID((await created.json())["id"])

    async with tenant_transaction(pool, unique_tenant) as conn:
        assert await repository.fetch_by(conn, unique_tenant, "id", customer_id, for_update=True)
        assert await repository.soft_delete(conn, unique_tenant, customer_id, utcnow())
        await notes_repository.delete_of_customer(conn, unique_tenant, customer_id)
        note = asyncio.create_task(
            customer_client.post(
                "/api/v2/customer/note",
                json={"customerId": str(customer_id), "note": "written during the delete"},
                headers=headers,
            )
        )

        async def note_waits() -> bool:
            assert not note.done(), "the note did not wait for the delete"
            # Asked on another connection: one transaction sees a frozen pg_stat_activity.
            return await pool.fetchval(WAITING_FOR_A_LOCK) > 0

        await eventually(note_waits, timeout=10)
    response = await asyncio.wait_for(note, timeout=30)
    assert response.status == 404, await response.text()
    assert (await response.json())["detail"] == "No such customer."
    async with tenant_transaction(pool, unique_tenant) as conn:
        notes = await conn.fetchval(
            "SELECT count(*) FROM customer.notes WHERE tenant_id = $1 AND customer_id = $2",
            unique_tenant,
            customer_id,
        )
    assert notes == 0


async def test_note_of_a_live_customer_does_not_wait_for_other_readers(
    customer_client, headers, unique_tenant, pool: asyncpg.Pool
):
    """The note's lock is shared: a reader holding the customer (FOR SHARE, like another note)
    does not hold a note back."""
    created = await customer_client.post(
        f"{API}/customers", json={"email": "share@example.com"}, headers=headers
    )
    customer_id = (await created.json())["id"]
    async with tenant_transaction(pool, unique_tenant) as conn:
        assert await repository.fetch_by(
            conn, unique_tenant, "id", uuid.UUID(customer_id), for_share=True
        )
        response = await asyncio.wait_for(
            customer_client.post(
                "/api/v2/customer/note",
                json={"customerId": customer_id, "note": "alongside"},
                headers=headers,
            ),
            timeout=30,
        )
        assert response.status == 201, await response.text()
