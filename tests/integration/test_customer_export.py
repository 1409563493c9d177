"""GET /customers/{id}/export against the real stores (API.md §9): every key, notes oldest
first, wishlists from the wishlist store, the order facts (§11) and shopper account metadata
(§10) without a secret, the customer's import row errors, 404s, and 503 when a store is down
(never a partial export)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
from aiohttp import web

from customer_service.app import create_app
from customer_service.app_keys import EXPORT
from customer_service.export.service import ExportService
from customer_service.export.sources import ExportSources
from shared.app_keys import DB_POOL, WISHLIST_POOL
from tests.support.customer_calls import CustomerCalls
from tests.support.shoppers import PASSWORD, Storefront, cheap_hashing

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
            # The customer's alternateCustomerRef is one of its refs too (an erasure scrubs it).
            (4, "EX-ALT", None, {"lastName": ["Too long."]}),
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
    customer = await calls.create(
        email="export.me@x.com", customerRef="EX-1", alternateCustomerRef="EX-ALT", firstName="Ex"
    )
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
        {"batchId": str(batch_id), "row": 4, "errors": {"lastName": ["Too long."]}},
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


NOW = datetime.now(UTC).replace(microsecond=0)


def _fact(ref: str, days_ago: int, **fields) -> dict:
    return {
        "eventId": f"evt-{ref}",
        "occurredAt": NOW.isoformat(),
        "orderRef": ref,
        "orderName": f"#{ref}",
        "orderDate": (NOW - timedelta(days=days_ago)).isoformat(),
        "total": "100.00",
        "currency": "EUR",
        "status": "placed",
        **fields,
    }


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_export_holds_the_order_facts_and_the_account_but_no_secret(
    aiohttp_client, jwks_settings, test_settings, unique_tenant
):
    """The customer's facts as §11 takes them in (any status, by whichever key named them,
    oldest order first), never another customer's; the shopper account's metadata with its
    sessions and codes, never a password hash, a session token, a code or their hashes."""
    settings, mint = jwks_settings
    client = await aiohttp_client(create_app(cheap_hashing(settings), run_relay=False))
    calls = CustomerCalls(client, mint.headers(unique_tenant))
    store = Storefront(client, mint, unique_tenant)
    customer = await store.register("Shopper@x.com", firstName="Sho")
    status, _ = await calls.call("PUT", f"/customers/id={customer['id']}", {"customerRef": "SH-1"})
    assert status == 200
    other = await calls.create(email="someone.else@x.com")
    sessions = [await store.login("shopper@x.com") for _ in range(2)]
    otp = await store.call("POST", "/otp", json={"username": "shopper@x.com", "channel": "sms"})
    assert otp.status == 202
    otp_token = (await otp.json())["otptoken"]

    facts = [
        _fact("O-2", 5, customerId=customer["id"], refundedAmount="20.5"),
        _fact("O-1", 30, email="SHOPPER@x.com", status="cancelled", total="12.3"),
        _fact("O-3", 1, customerRef="SH-1", currency="usd"),
        _fact("O-9", 2, customerId=other["id"]),
    ]
    status, body = await calls.call("POST", "/order-events", facts)
    assert (status, body) == (202, {"accepted": 4})

    response = await calls.response("GET", f"/customers/{customer['id']}/export")
    assert response.status == 200
    raw = await response.read()
    document = orjson.loads(raw)
    assert list(document) == EXPORT_KEYS
    envelope = {"eventId": "evt-O-1", "occurredAt": _iso(NOW)}
    assert document["orders"] == [
        {
            **envelope, "orderRef": "O-1", "orderName": "#O-1", "email": "shopper@x.com",
            "orderDate": _iso(NOW - timedelta(days=30)), "total": "12.30",
            "refundedAmount": "0.00", "currency": "EUR", "status": "cancelled",
        },
        {
            **envelope, "eventId": "evt-O-2", "orderRef": "O-2", "orderName": "#O-2",
            "customerId": customer["id"], "orderDate": _iso(NOW - timedelta(days=5)),
            "total": "100.00", "refundedAmount": "20.50", "currency": "EUR", "status": "placed",
        },
        {
            **envelope, "eventId": "evt-O-3", "orderRef": "O-3", "orderName": "#O-3",
            "customerRef": "SH-1", "orderDate": _iso(NOW - timedelta(days=1)),
            "total": "100.00", "refundedAmount": "0.00", "currency": "USD", "status": "placed",
        },
    ]  # fmt: skip
    # The computed fields beside them count the placed ones.
    assert (document["customer"]["totalOrders"], document["customer"]["totalSpend"]) == (
        "2",
        "179.50",
    )

    account = document["account"]
    assert list(account) == [
        "username", "createdAt", "passwordChangedAt", "sessions", "oneTimeCodes",
    ]  # fmt: skip
    assert account["username"] == "Shopper@x.com"  # the email, as stored
    assert account["createdAt"] == account["passwordChangedAt"]
    assert len(account["sessions"]) == 2
    assert all(set(s) == {"issuedAt", "expiresAt"} for s in account["sessions"])
    assert all(s["issuedAt"] < s["expiresAt"] for s in account["sessions"])
    (code,) = account["oneTimeCodes"]
    assert (code["usedAt"], code["attempts"]) == (None, 0)
    assert code["expiresAt"] > account["createdAt"]

    conn = await asyncpg.connect(test_settings.database_url)
    try:
        password_hash = await conn.fetchval(
            "SELECT password_hash FROM customer.shopper_credentials WHERE tenant_id = $1",
            unique_tenant,
        )
        stored = [
            bytes(row[0])
            for row in await conn.fetch(
                "SELECT token_hash FROM customer.shopper_sessions WHERE tenant_id = $1"
                " UNION ALL SELECT token_hash FROM customer.shopper_otps WHERE tenant_id = $1"
                " UNION ALL SELECT code_hash FROM customer.shopper_otps WHERE tenant_id = $1",
                unique_tenant,
            )
        ]
    finally:
        await conn.close()
    assert password_hash.startswith("$argon2")
    secrets = [password_hash, "$argon2", PASSWORD, otp_token, *sessions]
    secrets += [h.hex() for h in stored]
    assert len(stored) == 4
    for secret in secrets:
        assert secret.encode() not in raw, secret
    assert b"evt-O-9" not in raw and b"O-9" not in raw


async def test_a_customer_without_a_login_exports_a_null_account(calls):
    customer = await calls.create(email="no.login@x.com")
    status, document = await calls.call("GET", f"/customers/{customer['id']}/export")
    assert (status, document["account"]) == (200, None)


async def test_a_store_failing_mid_export_is_503_not_a_partial_export(
    aiohttp_client, jwks_settings, unique_tenant
):
    """The orders and account readers run in the export's own transaction: a store that fails
    under one of them fails the whole export with a 503 (the notes were read already)."""
    settings, mint = jwks_settings

    async def store_gone(_conn, _tenant, _customer_id):
        raise ConnectionResetError("the store went away")

    async def failing_sources(app: web.Application) -> AsyncIterator[None]:
        app[EXPORT] = ExportService(
            app[DB_POOL], app[WISHLIST_POOL], sources=ExportSources(account=store_gone)
        )
        yield

    app = create_app(settings, run_relay=False)
    app.cleanup_ctx.append(failing_sources)
    calls = CustomerCalls(await aiohttp_client(app), mint.headers(unique_tenant))
    customer = await calls.create(email="half@x.com")
    await calls.call("POST", "/customer/note", {"customerId": customer["id"], "note": "kept"})
    status, problem = await calls.call("GET", f"/customers/{customer['id']}/export")
    assert status == 503, problem
    assert "notes" not in problem and "customer" not in problem
