"""End to end through the gateway: provision, token, create, read, delete, de-identify."""

from __future__ import annotations

import uuid

import asyncpg

from deploy.local.suite import SERVICES, admin_port, service_port
from tests.e2e.conftest import obtain_client
from tests.support.wishlists import IDENTITY_COLUMNS, seed_wishlist, wait_deidentified

API = "/services/customerservice/api/v2"


async def test_customer_lifecycle_through_the_gateway(running_suite, http, client):
    """Create (trailing slash too), read back, delete, then 404."""
    base = running_suite.base_url
    async with http.post(
        f"{base}{API}/customers/",
        json={"email": "lin@example.com", "customerRef": "L-1", "firstName": "Lin"},
        headers={**client.headers, "X-Request-ID": "e2e-create-1"},
    ) as response:
        assert response.status == 201
        assert response.headers["X-Request-ID"] == "e2e-create-1"
        created = await response.json()
    async with http.get(f"{base}{API}/customers/{created['id']}", headers=client.headers) as r:
        assert r.status == 200
        assert await r.json() == created
    async with http.delete(f"{base}{API}/customers/{created['id']}", headers=client.headers) as r:
        assert r.status == 204
    async with http.get(f"{base}{API}/customers/{created['id']}", headers=client.headers) as r:
        assert r.status == 404
        assert r.content_type == "application/problem+json"


async def test_gateway_refuses_missing_invalid_and_foreign_tokens(running_suite, http, client):
    """401 without or with a bad token (RFC 6750 header), 403 for another tenant's header."""
    url = f"{running_suite.base_url}{API}/customers/{uuid.uuid4()}"
    async with http.get(url, headers={"X-TWC-Tenant": client.tenant}) as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer realm=")
    bad = {"Authorization": "Bearer not.a.token", "X-TWC-Tenant": client.tenant}
    async with http.get(url, headers=bad) as r:
        assert r.status == 401
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    async with http.get(url, headers={**client.headers, "X-TWC-Tenant": "other"}) as r:
        assert r.status == 403
    async with http.get(url, headers={"Authorization": client.headers["Authorization"]}) as r:
        assert r.status == 403


async def test_other_tenant_cannot_see_customer(running_suite, http, client, unique_tenant):
    """A second tenant gets a plain 404 for the first tenant's customer id."""
    base = running_suite.base_url
    async with http.post(
        f"{base}{API}/customers", json={"email": "iso@example.com"}, headers=client.headers
    ) as r:
        customer_id = (await r.json())["id"]
    intruder = await obtain_client(running_suite, http, unique_tenant + "b")
    async with http.get(f"{base}{API}/customers/{customer_id}", headers=intruder.headers) as r:
        assert r.status == 404


async def test_deleting_customer_deidentifies_wishlists(running_suite, http, client, test_settings):
    """Both wishlists of a deleted customer lose every identity within seconds; another
    customer's wishlist is untouched; items stay."""
    base = running_suite.base_url
    customers = []
    for n in (1, 2):
        async with http.post(
            f"{base}{API}/customers",
            json={"email": f"w{n}@example.com", "customerRef": f"W-{n}", "firstName": "W",
                  "lastName": f"L{n}"},
            headers=client.headers,
        ) as r:  # fmt: skip
            assert r.status == 201
            customers.append(await r.json())
    gone, kept = customers
    conn = await asyncpg.connect(test_settings.wishlist_database_url)
    try:
        gone_lists = [await seed_wishlist(conn, client.tenant, gone, n) for n in ("a", "b")]
        kept_list = await seed_wishlist(conn, client.tenant, kept, "c")
        async with http.delete(f"{base}{API}/customers/{gone['id']}", headers=client.headers) as r:
            assert r.status == 204
        rows = await wait_deidentified(conn, gone_lists)
        for row in rows:
            assert all(row[column] is None for column in IDENTITY_COLUMNS)
            assert row["customer_pseudonym"]
        assert rows[0]["customer_pseudonym"] == rows[1]["customer_pseudonym"]
        assert gone["id"] not in rows[0]["customer_pseudonym"]
        untouched = await conn.fetchrow("SELECT * FROM wishlist.wishlists WHERE id = $1", kept_list)
        assert untouched["customer_id"] == uuid.UUID(kept["id"])
        assert untouched["customer_email"] == "w2@example.com"
        assert untouched["deidentified_at"] is None
        items = await conn.fetchval(
            "SELECT count(*) FROM wishlist.wishlist_items WHERE wishlist_id = ANY($1::uuid[])",
            gone_lists,
        )
        assert items == 2
    finally:
        await conn.close()


async def test_every_service_serves_health_readiness_and_metrics(running_suite, http):
    """/healthz, /readyz and /metrics answer on each service's own port (the gateway's
    /metrics on its admin port: its own port is public)."""
    for service in SERVICES:
        own, admin = (
            service_port(running_suite.env, service),
            admin_port(running_suite.env, service),
        )
        for port, path, marker in (
            (own, "/healthz", "ok"), (own, "/readyz", "ready"), (admin, "/metrics", "# HELP")
        ):  # fmt: skip
            async with http.get(f"http://127.0.0.1:{port}{path}") as r:
                assert r.status == 200, (service, port, path)
                assert marker in await r.text()
