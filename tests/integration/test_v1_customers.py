"""TWC v1 customers (API.md §12) in-process: one store with v2, v1's own rules, v1-only fields
hidden from v2 and kept by a v2 PUT, and the order figures as numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

V1 = "/api/customers"
V2 = "/api/v2/customers"


async def test_v1_create_applies_v1_rules_and_is_visible_through_v2(
    customer_client, mint, unique_tenant
):
    headers = mint.headers(unique_tenant)
    response = await customer_client.post(
        V1,
        json={
            "id": 450789469,
            "email": "bob@example.com",
            "first_name": "Bob",
            "phone": "+1 (415) 555-0123",
            "tags": " vip, ,wholesale,vip ",
            "note": "Prefers email",
            "multipass_identifier": "mp-1",
            "tax_exemptions": "CA_STATUS_CARD_EXEMPTION, CA_BC_RESELLER_EXEMPTION",
            "addresses": [{"address1": "1 Main St", "zip": "94107", "country_code": "US"}],
        },
        headers=headers,
    )
    assert response.status == 201, await response.text()
    v1 = await response.json()
    assert v1["id"] == "450789469"
    assert v1["state"] == "disabled"
    assert v1["phone"] == "+14155550123"
    assert v1["tags"] == "vip, wholesale"
    assert v1["tax_exemptions"] == ["CA_STATUS_CARD_EXEMPTION", "CA_BC_RESELLER_EXEMPTION"]
    assert v1["default_address"]["zip"] == "94107"
    assert v1["orders_count"] == 0 and v1["total_spent"] == 0.0

    v2 = await (await customer_client.get(f"{V2}/450789469/ref", headers=headers)).json()
    assert v2["id"] == v1["twc_customer_id"]
    assert v2["firstName"] == "Bob"
    assert v2["customer_state"] == "disabled"
    assert v2["addresses"][0]["postcode"] == "94107"
    for hidden in ("tags", "note", "multipass_identifier"):
        assert hidden not in v2


async def test_a_v2_put_keeps_the_v1_only_fields_and_v1_sees_the_change(
    customer_client, mint, unique_tenant
):
    headers = mint.headers(unique_tenant)
    created = await customer_client.post(
        V1, json={"id": "R-7", "email": "r7@example.com", "tags": "a,b", "note": "n"},
        headers=headers,
    )  # fmt: skip
    twc_id = (await created.json())["twc_customer_id"]
    v2 = await (await customer_client.get(f"{V2}/{twc_id}", headers=headers)).json()
    put = await customer_client.put(
        f"{V2}/id={twc_id}", json={**v2, "lastName": "Seven"}, headers=headers
    )
    assert put.status == 200
    v1 = await (await customer_client.get(f"{V1}/R-7", headers=headers)).json()
    assert v1["last_name"] == "Seven"
    assert v1["tags"] == "a, b"
    assert v1["note"] == "n"


async def test_v1_put_finds_by_id_then_twc_customer_id_then_email_and_merges(
    customer_client, mint, unique_tenant
):
    headers = mint.headers(unique_tenant)
    created = await (
        await customer_client.post(V1, json={"id": 9, "email": "nine@example.com"}, headers=headers)
    ).json()
    by_id = await customer_client.put(V1, json={"id": 9, "first_name": "Nine"}, headers=headers)
    assert (await by_id.json())["first_name"] == "Nine"
    by_twc = await customer_client.put(
        V1, json={"twc_customer_id": created["twc_customer_id"], "tags": "x"}, headers=headers
    )
    assert (await by_twc.json())["tags"] == "x"
    by_email = await customer_client.put(
        V1, json={"email": "nine@example.com", "state": "enabled"}, headers=headers
    )
    body = await by_email.json()
    assert body["state"] == "enabled" and body["first_name"] == "Nine" and body["tags"] == "x"
    missing = await customer_client.put(V1, json={"first_name": "x"}, headers=headers)
    assert missing.status == 400


async def test_v1_errors_name_v1_fields(customer_client, mint, unique_tenant):
    response = await customer_client.post(
        V1,
        json={"email": "nope", "phone": "call me", "addresses": [{"country_code": "XX"}]},
        headers=mint.headers(unique_tenant),
    )
    assert response.status == 400
    errors = (await response.json())["errors"]
    assert {"email", "phone", "addresses.0.country_code"} <= set(errors)


async def test_v1_uniqueness_and_delete_are_v2s(customer_client, mint, unique_tenant):
    headers = mint.headers(unique_tenant)
    await customer_client.post(V1, json={"id": 5, "email": "five@example.com"}, headers=headers)
    clash = await customer_client.post(
        V1, json={"id": 6, "email": "FIVE@example.com"}, headers=headers
    )
    assert clash.status == 409
    assert (await customer_client.delete(f"{V1}/5", headers=headers)).status == 204
    assert (await customer_client.get(f"{V1}/5", headers=headers)).status == 404
    assert (await customer_client.get(f"{V2}/5/ref", headers=headers)).status == 404


async def test_v1_shows_the_order_figures_as_numbers(customer_client, mint, unique_tenant):
    headers = mint.headers(unique_tenant)
    await customer_client.post(V1, json={"id": 77, "email": "o@example.com"}, headers=headers)
    day = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    facts = [
        {"orderRef": "A", "orderName": "#1001", "customerRef": "77", "orderDate": day,
         "total": "19.99", "currency": "CAD", "status": "placed"},
        {"orderRef": "B", "orderName": "#1002", "customerRef": "77", "orderDate": day,
         "total": "5.01", "currency": "CAD", "status": "placed"},
    ]  # fmt: skip
    posted = await customer_client.post("/api/v2/order-events", json=facts, headers=headers)
    assert posted.status == 202
    v1 = await (await customer_client.get(f"{V1}/77", headers=headers)).json()
    assert v1["orders_count"] == 2
    assert v1["total_spent"] == 25.0
    assert (v1["last_order_id"], v1["last_order_name"], v1["currency"]) == ("B", "#1002", "CAD")
    v2 = await (await customer_client.get(f"{V2}/77/ref", headers=headers)).json()
    assert (v2["totalOrders"], v2["totalSpend"]) == ("2", "25.00")


async def test_v1_upload_creates_a_batch_with_translated_records(
    customer_client, mint, unique_tenant
):
    headers = mint.headers(unique_tenant)
    record = {"id": 1, "email": "u@example.com", "phone": "+44 20 7946 0958"}
    response = await customer_client.post("/api/upload-customers", json=[record], headers=headers)
    assert response.status == 202
    assert response.headers["Location"].startswith("/api/import/batch/")
    bad = await customer_client.post(
        "/api/upload-customers", json=[{"email": "a@example.com", "phone": "x"}], headers=headers
    )
    assert bad.status == 400
    assert "0.phone" in (await bad.json())["errors"]
