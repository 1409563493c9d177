"""API.md §6 through the gateway: two clients of one tenant editing the same customer; the one
holding a stale ETag gets 412 instead of overwriting the other's change; reads revalidate to 304."""

from __future__ import annotations

import json

import aiohttp

from tests.e2e.conftest import Client, obtain_client

API = "/services/customerservice/api/v2"


async def _call(http: aiohttp.ClientSession, client: Client, method: str, url: str, **options):
    """(status, parsed body or None, ETag) of one call as `client`, with extra headers."""
    extra = options.pop("headers", {})
    async with http.request(
        method, url, headers={**client.headers, **extra}, **options
    ) as response:
        raw = await response.read()
        body = json.loads(raw) if raw else None
        return response.status, body, response.headers.get("ETag")


async def test_two_clients_lost_update_becomes_412(running_suite, unique_tenant):
    async with aiohttp.ClientSession() as http_a, aiohttp.ClientSession() as http_b:
        alice = await obtain_client(running_suite, http_a, unique_tenant)
        bob = await obtain_client(running_suite, http_b, unique_tenant)
        base = running_suite.base_url + API

        status, created, _ = await _call(
            http_a, alice, "POST", f"{base}/customers/", json={"email": "shared@example.com"}
        )
        assert status == 201
        one = f"{base}/customers/{created['id']}"
        put = f"{base}/customers/id={created['id']}"

        # Both read the same version.
        _, _, alice_tag = await _call(http_a, alice, "GET", one)
        _, _, bob_tag = await _call(http_b, bob, "GET", one)
        assert alice_tag == bob_tag

        status, _, new_tag = await _call(
            http_a, alice, "PUT", put, json={"firstName": "Alice"}, headers={"If-Match": alice_tag}
        )
        assert status == 200

        # Bob's write and delete from the old version are refused; nothing changes.
        status, problem, _ = await _call(
            http_b, bob, "PUT", put, json={"firstName": "Bob"}, headers={"If-Match": bob_tag}
        )
        assert status == 412 and problem["status"] == 412
        status, _, _ = await _call(http_b, bob, "DELETE", one, headers={"If-Match": bob_tag})
        assert status == 412

        # Bob revalidates: his copy is stale (200 with the new body), Alice's is current (304).
        status, body, tag = await _call(http_b, bob, "GET", one, headers={"If-None-Match": bob_tag})
        assert (status, body["firstName"], tag) == (200, "Alice", new_tag)
        status, body, _ = await _call(http_a, alice, "GET", one, headers={"If-None-Match": new_tag})
        assert (status, body) == (304, None)

        status, body, _ = await _call(
            http_b, bob, "PUT", put, json={"firstName": "Bob"}, headers={"If-Match": new_tag}
        )
        assert (status, body["firstName"]) == (200, "Bob")
