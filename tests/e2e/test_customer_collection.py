"""The customer collection end to end through the gateway (API.md §7 to §9): listing, count,
query search, batch writes, the export and the address sub-resource, as a client calls them."""

from __future__ import annotations

import aiohttp

from tests.e2e.conftest import Client, RunningSuite
from tests.e2e.test_auth_flows import run_cli, token_for

API = "/services/customerservice/api/v2"


async def _call(http, suite: RunningSuite, client: Client, method: str, path: str, body=None):
    async with http.request(
        method, f"{suite.base_url}{API}{path}", json=body, headers=client.headers
    ) as response:
        return response.status, await response.json(), response.headers


async def test_list_count_and_search_through_the_gateway(running_suite, http, client):
    batch = {
        "create": [
            {"email": "zoe.quinn@example.com", "firstName": "Zoe", "lastName": "Quinn"},
            {"email": "al.quist@example.com", "firstName": "Al", "lastName": "Quist",
             "addresses": [{"city": "Glasgow", "postcode": "G1 1XQ"}]},
            {"email": "mo@example.org", "firstName": "Mo", "customerRef": "MO-1"},
        ]
    }  # fmt: skip
    status, result, _ = await _call(http, running_suite, client, "POST", "/customers/batch", batch)
    assert (status, result["succeeded"]) == (200, 3)

    # The trailing slash is ignored: GET /customers/ is the listing, not a customer.
    status, page, _ = await _call(
        http, running_suite, client, "GET", "/customers/?sortBy=firstName&pageSize=2"
    )
    assert status == 200
    assert [c["firstName"] for c in page["results"]] == ["Al", "Mo"]
    assert (page["page"], page["pageSize"], page["total"]) == (0, 2, 3)
    status, page, _ = await _call(
        http, running_suite, client, "GET", "/customers?sortBy=firstName&pageSize=2&pageNumber=1"
    )
    assert [c["firstName"] for c in page["results"]] == ["Zoe"]

    status, count, _ = await _call(http, running_suite, client, "GET", "/customers/count")
    assert (status, count) == (200, {"count": 3})
    status, count, _ = await _call(
        http, running_suite, client, "GET", "/customers/count?customerExternalId=MO-1"
    )
    assert count == {"count": 1}

    status, page, _ = await _call(
        http, running_suite, client, "POST", "/customers/search?sortBy=lastName", {"query": "qui"}
    )
    assert status == 200
    assert [c["lastName"] for c in page["results"]] == ["Quinn", "Quist"]
    status, page, _ = await _call(
        http, running_suite, client, "POST", "/customers/search", {"query": "glasgow"}
    )
    assert [c["email"] for c in page["results"]] == ["al.quist@example.com"]
    # GET /customers/search is TWC's exact search, unchanged.
    status, found, _ = await _call(
        http, running_suite, client, "GET", "/customers/search?lastName=Quinn"
    )
    assert status == 200 and [c["firstName"] for c in found] == ["Zoe"]


async def test_bad_collection_input_is_a_problem_naming_the_parameter(running_suite, http, client):
    async with http.get(
        f"{running_suite.base_url}{API}/customers?sortBy=shoeSize", headers=client.headers
    ) as response:
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        assert "sortBy" in (await response.json())["errors"]
    status, problem, _ = await _call(
        http, running_suite, client, "POST", "/customers/search", {"vatNumber": "GB1"}
    )
    assert status == 400 and "vatNumber" in problem["errors"]


async def test_batch_with_a_failure_is_207(running_suite, http, client):
    body = {
        "create": [{"email": "dup@example.com"}, {"email": "DUP@example.com"}],
        "delete": [{"customerRef": "no-such-ref"}],
    }
    status, result, _ = await _call(http, running_suite, client, "POST", "/customers/batch", body)
    assert status == 207
    assert [r["status"] for r in result["results"]] == [201, 409, 404]
    assert result["results"][1]["error"]["errors"] == {"email": ["already in use"]}
    assert (result["succeeded"], result["failed"]) == (1, 2)


async def test_export_and_addresses_through_the_gateway(running_suite, http, client):
    status, customer, _ = await _call(
        http, running_suite, client, "POST", "/customers",
        {"email": "gdpr@example.com", "addresses": [{"city": "Leeds"}, {"city": "York"}]},
    )  # fmt: skip
    assert status == 201
    status, addresses, _ = await _call(
        http, running_suite, client, "GET", f"/customers/{customer['id']}/address"
    )
    assert (status, [a["city"] for a in addresses]) == (200, ["Leeds", "York"])
    york = addresses[1]["id"]
    status, changed, _ = await _call(
        http, running_suite, client, "PUT", f"/customers/{customer['id']}/address/{york}",
        {"postcode": "YO1", "defaultAddress": True},
    )  # fmt: skip
    assert status == 200
    assert (changed["defaultAddress"]["id"], changed["defaultAddress"]["postcode"]) == (york, "YO1")

    status, document, headers = await _call(
        http, running_suite, client, "GET", f"/customers/{customer['id']}/export"
    )
    assert status == 200
    assert headers["Content-Disposition"] == (
        f'attachment; filename="customer-{customer["id"]}.json"'
    )
    assert headers["Cache-Control"] == "no-store"
    assert document["customer"] == changed
    assert (document["orders"], document["account"], document["wishlists"]) == ([], None, [])
    assert document["tenant"] == client.tenant


async def test_a_read_only_client_may_search_but_not_batch(
    running_suite, http: aiohttp.ClientSession, client
):
    created = run_cli(
        running_suite, "auth_service", "clients", "create", client.tenant,
        "--scopes", "customers:read",
    )[0]  # fmt: skip
    credentials = {"client_id": created["client_id"], "client_secret": created["client_secret"]}
    token = await token_for(running_suite, http, client.tenant, credentials)
    reader = Client(client.tenant, created["client_id"], created["client_secret"], token)
    status, page, _ = await _call(http, running_suite, reader, "POST", "/customers/search", {})
    assert (status, page["total"]) == (200, 0)
    status, problem, _ = await _call(
        http, running_suite, reader, "POST", "/customers/batch", {"create": [{"email": "a@b.co"}]}
    )
    assert status == 403 and "customers:write" in problem["detail"]
