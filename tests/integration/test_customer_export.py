"""GET /customers/{id}/export against the real stores (API.md §9): every key, notes oldest
first, wishlists from the wishlist store, the customer's import row errors, 404s, and 503 when
the wishlist store is down (never a partial export)."""

from __future__ import annotations

import dataclasses
import uuid

import asyncpg
import orjson

from customer_service.app import create_app
from tests.support.customer_calls import CustomerCalls

EXPORT_KEYS = [
    "exportedAt", "tenant", "customer", "notes", "wishlists", "orders", "account", "importErrors",
]  # fmt: skip


async def _seed_wishlists(test_settings, tenant: str, customer_id: str) -> uuid.UUID:
    conn = await asyncpg.connect(test_settings.wishlist_database_url)
    try:
        wishlist_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO wishlist.wishlists (id, tenant_id, customer_id, name, description,"
            " wishlist_ref, is_private, customer_pseudonym) VALUES ($1, $2, $3, 'Birthday',"
            " 'for May', 'WL-1', true, 'secret-pseudonym')",
            wishlist_id,
            tenant,
            uuid.UUID(customer_id),
        )
        await conn.execute(
            "INSERT INTO wishlist.wishlist_items (id, tenant_id, wishlist_id, product_ref,"
            " variant_ref, purchased) VALUES ($1, $2, $3, 'P-1', 'V-1', false)",
            uuid.uuid4(),
            tenant,
            wishlist_id,
        )
        # Another customer's and another tenant's wishlists are not this customer's.
        for other_tenant, other_customer in ((tenant, uuid.uuid4()), ("t_foreign", customer_id)):
            await conn.execute(
                "INSERT INTO wishlist.wishlists (id, tenant_id, customer_id, name)"
                " VALUES ($1, $2, $3, 'Not theirs')",
                uuid.uuid4(),
                other_tenant,
                uuid.UUID(str(other_customer)),
            )
        return wishlist_id
    finally:
        await conn.close()


async def _seed_import_errors(test_settings, tenant: str) -> uuid.UUID:
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        batch_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO impex.batches (tenant_id, id, state) VALUES ($1, $2, 'COMPLETED')",
            tenant,
            batch_id,
        )
        rows = [
            (1, None, "EXPORT.ME@x.com", {"dob": ["Not a valid date."]}),
            (2, "EX-1", None, {"mobile": ["Too long."]}),
            (3, "OTHER", "other@x.com", {"email": ["Not a valid email address."]}),
        ]
        for record_no, ref, email, errors in rows:
            await conn.execute(
                "INSERT INTO impex.batch_errors (tenant_id, batch_id, record_no, customer_ref,"
                " email, errors) VALUES ($1, $2, $3, $4, $5, $6)",
                tenant,
                batch_id,
                record_no,
                ref,
                email,
                orjson.dumps(errors).decode(),
            )
        return batch_id
    finally:
        await conn.close()


async def test_export_holds_everything_about_the_customer(calls, test_settings, unique_tenant):
    customer = await calls.create(email="export.me@x.com", customerRef="EX-1", firstName="Ex")
    other = await calls.create(email="other@x.com", customerRef="OTHER")
    for text in ("first", "second"):
        status, _ = await calls.call(
            "POST", "/customer/note", {"customerId": customer["id"], "note": text}
        )
        assert status == 201
    await calls.call("POST", "/customer/note", {"customerId": other["id"], "note": "not theirs"})
    wishlist_id = await _seed_wishlists(test_settings, unique_tenant, customer["id"])
    batch_id = await _seed_import_errors(test_settings, unique_tenant)

    response = await calls.response("GET", f"/customers/{customer['id']}/export")
    assert response.status == 200
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="customer-{customer["id"]}.json"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    document = await response.json()
    assert list(document) == EXPORT_KEYS
    assert document["tenant"] == unique_tenant
    assert document["customer"] == (await calls.call("GET", f"/customers/{customer['id']}"))[1]
    assert [n["note"] for n in document["notes"]] == ["first", "second"]
    (wishlist,) = document["wishlists"]
    assert wishlist["id"] == str(wishlist_id)
    assert (wishlist["name"], wishlist["description"], wishlist["wishlistRef"]) == (
        "Birthday",
        "for May",
        "WL-1",
    )
    assert wishlist["isPrivate"] is True
    assert [(i["productRef"], i["variantRef"], i["purchased"]) for i in wishlist["items"]] == [
        ("P-1", "V-1", False)
    ]
    assert (document["orders"], document["account"]) == ([], None)
    assert document["importErrors"] == [
        {"batchId": str(batch_id), "row": 1, "errors": {"dob": ["Not a valid date."]}},
        {"batchId": str(batch_id), "row": 2, "errors": {"mobile": ["Too long."]}},
    ]
    assert b"secret-pseudonym" not in await response.read()


async def test_a_customer_with_nothing_else_has_every_key_empty(calls):
    customer = await calls.create(email="bare@x.com")
    status, document = await calls.call("GET", f"/customers/{customer['id']}/export")
    assert status == 200
    assert list(document) == EXPORT_KEYS
    assert [document[k] for k in ("notes", "wishlists", "orders", "account", "importErrors")] == [
        [], [], [], None, [],
    ]  # fmt: skip


async def test_unknown_deleted_malformed_and_foreign_customers_are_404(
    calls, customer_client, mint
):
    customer = await calls.create(email="short-lived@x.com")
    foreign = await customer_client.get(
        f"/api/v2/customers/{customer['id']}/export", headers=mint.headers("t_foreign_export")
    )
    assert foreign.status == 404
    await calls.call("DELETE", f"/customers/{customer['id']}")
    for raw_id in (customer["id"], str(uuid.uuid4()), "not-a-uuid"):
        status, problem = await calls.call("GET", f"/customers/{raw_id}/export")
        assert status == 404, problem


async def test_wishlist_store_down_is_503_not_a_partial_export(
    aiohttp_client, jwks_settings, unique_tenant
):
    settings, mint = jwks_settings
    down = dataclasses.replace(
        settings, wishlist_database_url="postgresql://postgres@127.0.0.1:1/nowhere"
    )
    calls = CustomerCalls(
        await aiohttp_client(create_app(down, run_relay=False)), mint.headers(unique_tenant)
    )
    customer = await calls.create(email="unlucky@x.com")
    status, problem = await calls.call("GET", f"/customers/{customer['id']}/export")
    assert status == 503, problem
    assert "wishlists" not in problem
