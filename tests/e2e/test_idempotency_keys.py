"""API.md §6 through the gateway: a client retrying POSTs with an Idempotency-Key gets the first
answer again and nothing is done twice; a reused key with another body is a 422."""

from __future__ import annotations

import uuid

API = "/services/customerservice/api/v2"
IMPEX = "/services/impex/api/import"


async def test_retried_posts_are_done_once(running_suite, http, client):
    base = running_suite.base_url
    key = str(uuid.uuid4())
    body = {"email": "retry@example.com", "customerRef": "retry-1"}
    answers = []
    for path in ("/customers", "/customers/"):  # the SDK's trailing slash is the same request
        async with http.post(
            f"{base}{API}{path}", json=body, headers={**client.headers, "Idempotency-Key": key}
        ) as response:
            answers.append((response.status, await response.read(), response.headers))
    (status1, body1, headers1), (status2, body2, headers2) = answers
    assert status1 == status2 == 201
    assert body1 == body2
    assert "Idempotent-Replayed" not in headers1
    assert headers2["Idempotent-Replayed"] == "true"
    async with http.get(
        f"{base}{API}/customers/search", params={"email": "retry@example.com"},
        headers=client.headers,
    ) as response:  # fmt: skip
        assert len(await response.json()) == 1

    async with http.post(
        f"{base}{API}/customers",
        json={"email": "other@example.com"},
        headers={**client.headers, "Idempotency-Key": key},
    ) as response:
        assert response.status == 422
        assert response.content_type == "application/problem+json"


async def test_retried_upload_customers_is_one_batch(running_suite, http, client):
    base = running_suite.base_url
    records = [{"email": f"batch{i}@example.com"} for i in range(5)]
    locations = []
    for _ in range(2):
        async with http.post(
            f"{base}{API}/upload-customers",
            json=records,
            headers={**client.headers, "Idempotency-Key": "nightly-2026-12-02"},
        ) as response:
            assert response.status == 202
            locations.append(response.headers["Location"])
    assert locations[0] == locations[1]
    assert locations[0].startswith(f"{IMPEX}/batch/")  # rewritten to the public path, replayed too
    async with http.get(f"{base}{IMPEX}/batch", headers=client.headers) as response:
        assert (await response.json())["total"] == 1


async def test_a_malformed_key_is_400(running_suite, http, client):
    async with http.post(
        f"{running_suite.base_url}{API}/customers",
        json={"email": "k@example.com"},
        headers={**client.headers, "Idempotency-Key": "x" * 256},
    ) as response:
        assert response.status == 400
        assert "Idempotency-Key" in (await response.json())["errors"]
