"""customer_service in-process against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import uuid

import asyncpg

from shared.authz import READ_CUSTOMERS


async def test_created_customer_is_read_back_with_full_representation(
    customer_client, mint, unique_tenant
):
    """POST then GET returns the same customer with server-owned fields filled in."""
    headers = mint.headers(unique_tenant)
    created = await customer_client.post(
        "/api/v2/customers",
        json={"email": "Ada@Example.com", "customerRef": "C-1", "firstName": "Ada"},
        headers=headers,
    )
    assert created.status == 201
    body = await created.json()
    uuid.UUID(body["id"])
    assert body["email"] == "Ada@Example.com"
    assert body["customer_state"] == "enabled"
    assert body["active"] is True
    assert body["optin_preferences"]["sms"]["opt_in_active"] is False
    assert body["createdDate"].endswith("Z") and len(body["createdDate"]) == 24
    fetched = await customer_client.get(f"/api/v2/customers/{body['id']}", headers=headers)
    assert fetched.status == 200
    assert await fetched.json() == body


async def test_duplicate_email_is_a_conflict_naming_the_field(customer_client, mint, unique_tenant):
    """Email is unique per tenant, case-insensitively."""
    headers = mint.headers(unique_tenant)
    first = await customer_client.post(
        "/api/v2/customers", json={"email": "dup@example.com"}, headers=headers
    )
    assert first.status == 201
    second = await customer_client.post(
        "/api/v2/customers", json={"email": "DUP@example.com"}, headers=headers
    )
    assert second.status == 409
    problem = await second.json()
    assert problem["errors"] == {"email": ["already in use"]}
    assert second.content_type == "application/problem+json"


async def test_invalid_customer_is_rejected_with_field_paths(customer_client, mint, unique_tenant):
    """Validation failures are 400 problems naming each field."""
    response = await customer_client.post(
        "/api/v2/customers",
        json={"email": "not-an-email", "addresses": [{"countryCode": "XX"}]},
        headers=mint.headers(unique_tenant),
    )
    assert response.status == 400
    errors = (await response.json())["errors"]
    assert "email" in errors
    assert "addresses.0.countryCode" in errors


async def test_other_tenants_customer_is_not_found(customer_client, mint, unique_tenant):
    """A customer of tenant A is a plain 404 for tenant B."""
    created = await customer_client.post(
        "/api/v2/customers", json={"email": "a@example.com"}, headers=mint.headers(unique_tenant)
    )
    customer_id = (await created.json())["id"]
    other = await customer_client.get(
        f"/api/v2/customers/{customer_id}", headers=mint.headers(unique_tenant + "x")
    )
    assert other.status == 404


async def test_deleted_customer_is_gone_scrubbed_and_its_email_reusable(
    customer_client, mint, unique_tenant, test_settings
):
    """DELETE answers 204, then 404; the row keeps no personal data; the email can be reused."""
    headers = mint.headers(unique_tenant)
    created = await customer_client.post(
        "/api/v2/customers",
        json={"email": "gone@example.com", "firstName": "Gone", "customerRef": "R-9"},
        headers=headers,
    )
    customer_id = (await created.json())["id"]
    deleted = await customer_client.delete(f"/api/v2/customers/{customer_id}", headers=headers)
    assert deleted.status == 204
    again = await customer_client.get(f"/api/v2/customers/{customer_id}", headers=headers)
    assert again.status == 404
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT * FROM customer.customers WHERE tenant_id = $1 AND id = $2",
            unique_tenant,
            uuid.UUID(customer_id),
        )
    finally:
        await conn.close()
    assert row["deleted"] is True
    assert (row["email"], row["first_name"], row["customer_ref"]) == (None, None, None)
    reused = await customer_client.post(
        "/api/v2/customers", json={"email": "gone@example.com"}, headers=headers
    )
    assert reused.status == 201


async def test_missing_token_and_wrong_tenant_and_missing_scope(
    customer_client, mint, unique_tenant
):
    """The service verifies the token itself: 401, 403 for a foreign tenant, 403 naming a scope."""
    no_token = await customer_client.get(f"/api/v2/customers/{uuid.uuid4()}")
    assert no_token.status == 401
    assert no_token.headers["WWW-Authenticate"].startswith("Bearer realm=")
    foreign = await customer_client.get(
        f"/api/v2/customers/{uuid.uuid4()}",
        headers={**mint.headers(unique_tenant), "X-TWC-Tenant": "someone-else"},
    )
    assert foreign.status == 403
    read_only = await customer_client.post(
        "/api/v2/customers",
        json={"email": "x@example.com"},
        headers=mint.headers(unique_tenant, scopes=(READ_CUSTOMERS,)),
    )
    assert read_only.status == 403
    assert "customers:write" in (await read_only.json())["detail"]


async def test_malformed_id_is_not_found(customer_client, mint, unique_tenant):
    """A path id that is not a UUID is a 404, not a 400 or 500."""
    response = await customer_client.get(
        "/api/v2/customers/not-a-uuid", headers=mint.headers(unique_tenant)
    )
    assert response.status == 404


async def test_wrong_content_type_is_415(customer_client, mint, unique_tenant):
    """Only JSON bodies are accepted."""
    response = await customer_client.post(
        "/api/v2/customers",
        data="email=a@example.com",
        headers={
            **mint.headers(unique_tenant),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status == 415
