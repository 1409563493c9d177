"""API.md §6 through the gateway: two clients of one tenant editing the same customer; the one
holding a stale ETag gets 412 instead of overwriting the other's change; reads revalidate to 304."""

from __future__ import annotations

import aiohttp

from tests.e2e.conftest import obtain_client

API = "/services/customerservice/api/v2"


async def test_two_clients_lost_update_becomes_412(running_suite, unique_tenant):
    async with aiohttp.ClientSession() as http_a, aiohttp.ClientSession() as http_b:
        alice = await obtain_client(running_suite, http_a, unique_tenant)
        bob = await obtain_client(running_suite, http_b, unique_tenant)
        base = running_suite.base_url + API

        async with http_a.post(
            f"{base}/customers/", json={"email": "shared@example.com"}, headers=alice.headers
        ) as response:
            assert response.status == 201
            customer_id = (await response.json())["id"]

        # Both read the same version.
        async with http_a.get(f"{base}/customers/{customer_id}", headers=alice.headers) as r:
            alice_tag = r.headers["ETag"]
        async with http_b.get(f"{base}/customers/{customer_id}", headers=bob.headers) as r:
            bob_tag = r.headers["ETag"]
        assert alice_tag == bob_tag

        async with http_a.put(
            f"{base}/customers/id={customer_id}",
            json={"firstName": "Alice"},
            headers={**alice.headers, "If-Match": alice_tag},
        ) as response:
            assert response.status == 200
            new_tag = response.headers["ETag"]

        async with http_b.put(
            f"{base}/customers/id={customer_id}",
            json={"firstName": "Bob"},
            headers={**bob.headers, "If-Match": bob_tag},
        ) as response:
            assert response.status == 412
            assert response.content_type == "application/problem+json"
        async with http_b.delete(
            f"{base}/customers/{customer_id}", headers={**bob.headers, "If-Match": bob_tag}
        ) as response:
            assert response.status == 412

        # Bob revalidates: his copy is stale (200 with the new body), Alice's is current (304).
        async with http_b.get(
            f"{base}/customers/{customer_id}", headers={**bob.headers, "If-None-Match": bob_tag}
        ) as response:
            assert response.status == 200
            assert (await response.json())["firstName"] == "Alice"
            assert response.headers["ETag"] == new_tag
        async with http_a.get(
            f"{base}/customers/{customer_id}", headers={**alice.headers, "If-None-Match": new_tag}
        ) as response:
            assert response.status == 304
            assert await response.read() == b""

        async with http_b.put(
            f"{base}/customers/id={customer_id}",
            json={"firstName": "Bob"},
            headers={**bob.headers, "If-Match": new_tag},
        ) as response:
            assert response.status == 200
            assert (await response.json())["firstName"] == "Bob"
