"""Shopper accounts end to end: a storefront provisioned with the shopper scopes, through the
gateway, with the real relay and RabbitMQ (API.md §10)."""

from __future__ import annotations

import pytest

from tests.support.shoppers import PASSWORD, Storefront, next_otp, otp_events

SCOPES = "customers:read customers:write shoppers:auth shoppers:admin"


@pytest.fixture
async def storefront(running_suite, http, unique_tenant) -> Storefront:
    """A tenant provisioned by the CLI with `--scopes` including the shopper scopes."""
    credentials = running_suite.provision(unique_tenant, scopes=SCOPES)
    async with http.post(
        f"{running_suite.base_url}/auth/realms/{unique_tenant}/protocol/openid-connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
    ) as response:
        assert response.status == 200
        token = await response.json()
    assert set(token["scope"].split()) == set(SCOPES.split())
    store = Storefront(
        http, None, unique_tenant, prefix=f"{running_suite.base_url}/services/customerservice"
    )
    store.bearer = token["access_token"]
    return store


async def test_register_login_me_logout_through_the_gateway(storefront):
    """The README flow, as a storefront runs it."""
    customer = await storefront.register("e2e@example.com", firstName="Eve")
    token = await storefront.login("E2E@example.com")
    me = await storefront.call("GET", "/me", session=token)
    assert me.status == 200 and (await me.json())["id"] == customer["id"]
    changed = await storefront.call("PUT", "/me", session=token, json={"lastName": "Shopper"})
    assert (await changed.json())["lastName"] == "Shopper"
    assert (await storefront.call("POST", "/logout", session=token)).status == 204
    after = await storefront.call("GET", "/me", session=token)
    assert after.status == 401
    assert after.headers["WWW-Authenticate"] == f'AccessToken realm="{storefront.tenant}"'


async def test_a_wrong_password_is_the_one_401_through_the_gateway(storefront):
    """Unknown user and wrong password look the same to the client, challenge included."""
    await storefront.register("same@example.com")
    answers = []
    for username in ("same@example.com", "nobody@example.com"):
        response = await storefront.call(
            "POST", "/login", json={"username": username, "password": "wrong password"}
        )
        body = await response.json()
        body.pop("requestId")
        answers.append((response.status, response.headers["WWW-Authenticate"], body))
    assert answers[0] == answers[1] and answers[0][0] == 401


async def test_default_scopes_reach_no_shopper_route(running_suite, http, client):
    """A client provisioned without --scopes gets 403 naming shoppers:auth."""
    async with http.post(
        f"{running_suite.base_url}/services/customerservice/api/v2/shoppers/login",
        json={"username": "a@example.com", "password": PASSWORD},
        headers=client.headers,
    ) as response:
        assert response.status == 403
        assert "shoppers:auth" in (await response.json())["detail"]


async def test_otp_login_and_delete_through_the_gateway(storefront, test_settings):
    """A code published by the relay logs the shopper in; deleting the customer ends it."""
    customer = await storefront.register("code@example.com")
    async with otp_events(test_settings.amqp_url) as queue:
        sent = await storefront.call(
            "POST", "/otp", json={"username": "code@example.com", "channel": "email"}
        )
        assert sent.status == 202
        challenge = (await sent.json())["otptoken"]
        event, _ = await next_otp(queue, storefront.tenant)
    assert event["customer"] == {"id": customer["id"]}
    code = event["code"]
    login = await storefront.call(
        "POST",
        "/login/otp",
        headers={"otptoken": challenge},
        json={"username": "code@example.com", "otp": code},
    )
    assert login.status == 200
    token = (await login.json())["Token"]["AccessToken"]
    assert await storefront.session_valid(token)
    deleted = await storefront.client.delete(
        f"{storefront.prefix}/api/v2/customers/{customer['id']}", headers=storefront.headers
    )
    assert deleted.status == 204
    assert not await storefront.session_valid(token)
