"""Shopper accounts over HTTP against customer_service in-process (API.md §10)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import uuid
from datetime import datetime

import asyncpg
import orjson
import pytest

from customer_service.app import create_app
from customer_service.metrics import REGISTRY
from shared.amqp import SHOPPER_OTP_REQUESTED
from shared.authz import DEFAULT_SCOPES, SHOPPERS_ADMIN, SHOPPERS_AUTH
from tests.support.shoppers import PASSWORD, Storefront, cheap_hashing, next_otp, otp_events
from tests.support.waiting import eventually


@pytest.fixture
async def shop_app(aiohttp_client, jwks_settings):
    settings, _ = jwks_settings
    return await aiohttp_client(create_app(cheap_hashing(settings)))


@pytest.fixture
def store(shop_app, mint, unique_tenant) -> Storefront:
    return Storefront(shop_app, mint, unique_tenant)


def _problem(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "requestId"}


async def test_register_login_me_logout(store):
    """The README flow: register, log in, read /me, log out; the session then is gone."""
    customer = await store.register("Ann@Example.com", firstName="Ann")
    assert customer["email"] == "Ann@Example.com" and customer["firstName"] == "Ann"
    response = await store.call(
        "POST", "/login", json={"username": "ann@example.com", "password": PASSWORD}
    )
    assert response.status == 200
    token = (await response.json())["Token"]
    assert token["UserId"] == customer["id"] and token["MerchantId"] == store.tenant
    assert token["issued_at"].endswith("Z") and token["expires_at"] > token["issued_at"]
    me = await store.call("GET", "/me", session=token["AccessToken"])
    assert me.status == 200 and (await me.json())["id"] == customer["id"]
    session = await store.call("GET", "/session", session=token["AccessToken"])
    assert await session.json() == {
        "SessionValid": True,
        "UserId": customer["id"],
        "issued_at": token["issued_at"],
        "expires_at": token["expires_at"],
    }
    assert (await store.call("POST", "/logout", session=token["AccessToken"])).status == 204
    assert (await store.call("POST", "/logout", session=token["AccessToken"])).status == 204
    gone = await store.call("GET", "/me", session=token["AccessToken"])
    assert gone.status == 401
    assert gone.headers["WWW-Authenticate"] == f'AccessToken realm="{store.tenant}"'
    assert not await store.session_valid(token["AccessToken"])


async def test_session_lasts_the_configured_ttl(store):
    """expires_at - issued_at is SHOPPER_SESSION_TTL_SECONDS (7 days by default)."""
    await store.register("ttl@example.com")
    response = await store.call(
        "POST", "/login", json={"username": "ttl@example.com", "password": PASSWORD}
    )
    token = (await response.json())["Token"]
    issued = datetime.fromisoformat(token["issued_at"])
    expires = datetime.fromisoformat(token["expires_at"])
    assert (expires - issued).total_seconds() == 7 * 24 * 3600


async def test_register_refuses_a_taken_email_a_weak_password_and_bad_fields(store):
    """409 on username for a live customer's email; 400 naming the field otherwise."""
    created = await store.client.post(
        "/api/v2/customers", json={"email": "taken@example.com"}, headers=store.headers
    )
    assert created.status == 201
    taken = await store.call(
        "POST", "/register", json={"username": "TAKEN@example.com", "password": PASSWORD}
    )
    assert taken.status == 409
    assert (await taken.json())["errors"] == {"username": ["already in use"]}
    cases = [
        ({"username": "a@example.com", "password": "short"}, "password"),
        ({"username": "a@example.com", "password": "x" * 129}, "password"),
        ({"username": "a@example.com", "password": "A@example.com"}, "password"),
        ({"username": "not-an-email", "password": PASSWORD}, "username"),
        ({"password": PASSWORD}, "username"),
        (
            {"username": "a@example.com", "password": PASSWORD, "customer": {"dob": "31-02-1990"}},
            "customer.dob",
        ),
    ]
    for body, field in cases:
        response = await store.call("POST", "/register", json=body)
        assert response.status == 400, body
        assert field in (await response.json())["errors"], body


async def test_register_ignores_retailer_owned_fields(store):
    """A shopper cannot make itself VIP, verified, or pick its refs by registering."""
    customer = await store.register(
        "vip@example.com",
        firstName="Val",
        vipStatus=True,
        loyaltyTier="gold",
        verified_email=True,
        customerRef="MINE",
        customer_state="invited",
    )
    assert customer["firstName"] == "Val"
    assert customer["vipStatus"] is None and customer["loyaltyTier"] is None
    assert customer["verified_email"] is None and customer["customerRef"] is None
    assert customer["customer_state"] == "enabled"


async def test_every_failed_login_gets_the_same_401(store):
    """Unknown user, wrong password, no credentials, disabled, declined or inactive customer:
    one and the same problem and challenge."""
    await store.register("known@example.com")
    for email, change in (
        ("disabled@example.com", {"customer_state": "disabled"}),
        ("declined@example.com", {"customer_state": "declined"}),
        ("inactive@example.com", {"active": False}),
    ):
        customer = await store.register(email)
        updated = await store.client.put(
            f"/api/v2/customers/id={customer['id']}", json=change, headers=store.headers
        )
        assert updated.status == 200
    await store.client.post(
        "/api/v2/customers", json={"email": "nologin@example.com"}, headers=store.headers
    )
    answers = []
    for username, password in (
        ("known@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("nologin@example.com", PASSWORD),
        ("disabled@example.com", PASSWORD),
        ("declined@example.com", PASSWORD),
        ("inactive@example.com", PASSWORD),
    ):
        response = await store.call(
            "POST", "/login", json={"username": username, "password": password}
        )
        answers.append(
            (
                response.status,
                response.headers["WWW-Authenticate"],
                response.content_type,
                _problem(await response.json()),
            )
        )
    assert len(set(orjson.dumps(a) for a in answers)) == 1, answers
    assert answers[0][:2] == (401, f'AccessToken realm="{store.tenant}"')


async def test_five_failures_lock_the_username_even_for_the_right_password(store):
    """The sixth attempt within 15 minutes is a 429 with Retry-After, password right or not;
    another username is not affected."""
    await store.register("locked@example.com")
    await store.register("free@example.com")
    failed, locked = _login_count("failed"), _login_count("locked")
    for _ in range(5):
        response = await store.call(
            "POST", "/login", json={"username": "locked@example.com", "password": "nope nope"}
        )
        assert response.status == 401
    right = await store.call(
        "POST", "/login", json={"username": "LOCKED@example.com", "password": PASSWORD}
    )
    assert right.status == 429
    assert 0 < int(right.headers["Retry-After"]) <= 15 * 60
    assert await store.login("free@example.com")
    assert (_login_count("failed") - failed, _login_count("locked") - locked) == (5, 1)


def _login_count(outcome: str) -> float:
    labels = {"method": "password", "outcome": outcome}
    return REGISTRY.get_sample_value("shopper_logins_total", labels) or 0.0


async def test_a_success_forgets_earlier_failures(store):
    """Four failures, a success, four more failures: never locked."""
    await store.register("careless@example.com")
    for _ in range(2):
        for _ in range(4):
            response = await store.call(
                "POST", "/login", json={"username": "careless@example.com", "password": "nope!!!!"}
            )
            assert response.status == 401
        assert await store.login("careless@example.com")


async def test_shopper_token_is_never_a_bearer_token(store):
    """The opaque session token in Authorization is refused like any invalid bearer token."""
    await store.register("bearer@example.com")
    token = await store.login("bearer@example.com")
    response = await store.client.get(
        f"{store.url('/me')}",
        headers={"Authorization": f"Bearer {token}", "X-TWC-Tenant": store.tenant},
    )
    assert response.status == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_scopes_shoppers_auth_and_admin(shop_app, mint, unique_tenant):
    """Default scopes reach no shopper route; shoppers:auth reaches the shopper routes but not
    the admin ones, which need shoppers:admin."""
    default = Storefront(shop_app, mint, unique_tenant)
    default.bearer = mint.token(unique_tenant, DEFAULT_SCOPES)
    response = await default.call("POST", "/login", json={"username": "x@y.z", "password": "p"})
    assert response.status == 403 and "shoppers:auth" in (await response.json())["detail"]
    auth_only = Storefront(shop_app, mint, unique_tenant)
    auth_only.bearer = mint.token(unique_tenant, (SHOPPERS_AUTH,))
    customer = await auth_only.register("scoped@example.com")
    assert await auth_only.login("scoped@example.com")
    admin_call = await auth_only.call("DELETE", f"/{customer['id']}/sessions")
    assert admin_call.status == 403 and "shoppers:admin" in (await admin_call.json())["detail"]
    admin = Storefront(shop_app, mint, unique_tenant)
    admin.bearer = mint.token(unique_tenant, (SHOPPERS_ADMIN,))
    assert (await admin.call("DELETE", f"/{customer['id']}/sessions")).status == 204
    assert (await admin.call("POST", "/login", json={"username": "a", "password": "b"})).status == (
        403
    )


async def test_a_session_of_one_tenant_is_nothing_in_another(shop_app, mint, unique_tenant):
    """A shopper token replayed with another tenant's credentials finds no session."""
    first = Storefront(shop_app, mint, unique_tenant)
    second = Storefront(shop_app, mint, f"{unique_tenant}_b")
    await first.register("replay@example.com")
    await second.register("replay@example.com")
    token = await first.login("replay@example.com")
    response = await second.call("GET", "/me", session=token)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == f'AccessToken realm="{second.tenant}"'
    assert not await second.session_valid(token)
    assert (await second.call("PUT", "/me", session=token, json={"firstName": "X"})).status == 401
    assert await first.session_valid(token)


async def test_deleting_the_customer_ends_sessions_and_credentials(store, test_settings):
    """After DELETE /customers/{id}: /me is 401, the login fails, no row is left behind."""
    customer = await store.register("gone@example.com")
    token = await store.login("gone@example.com")
    deleted = await store.client.delete(
        f"/api/v2/customers/{customer['id']}", headers=store.headers
    )
    assert deleted.status == 204
    assert (await store.call("GET", "/me", session=token)).status == 401
    assert not await store.session_valid(token)
    login = await store.call(
        "POST", "/login", json={"username": "gone@example.com", "password": PASSWORD}
    )
    assert login.status == 401
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        for table in ("shopper_credentials", "shopper_sessions", "shopper_otps"):
            left = await conn.fetchval(
                f"SELECT count(*) FROM customer.{table} WHERE tenant_id = $1 AND customer_id = $2",
                store.tenant,
                uuid.UUID(customer["id"]),
            )
            assert left == 0, table
    finally:
        await conn.close()
    again = await store.register("gone@example.com")  # the email is free again
    assert again["id"] != customer["id"]


async def test_me_merges_but_never_writes_retailer_owned_fields(store):
    """PUT /me changes the shopper's own fields and ignores email, refs, state and loyalty."""
    customer = await store.register("self@example.com", firstName="Sam")
    await store.client.put(
        f"/api/v2/customers/id={customer['id']}",
        json={"customerRef": "R-1", "loyaltyTier": "silver"},
        headers=store.headers,
    )
    token = await store.login("self@example.com")
    response = await store.call(
        "PUT",
        "/me",
        session=token,
        json={
            "lastName": "Shopper",
            "email": "other@example.com",
            "customerRef": "R-2",
            "alternateCustomerRef": "A-2",
            "customer_state": "disabled",
            "active": False,
            "verified_email": True,
            "vipStatus": True,
            "loyaltyTier": "platinum",
            "spendToNextTier": "0",
            "memberSince": "01-01-2000",
        },
    )
    assert response.status == 200, await response.text()
    me = await response.json()
    assert (me["firstName"], me["lastName"]) == ("Sam", "Shopper")
    assert me["email"] == "self@example.com" and me["customerRef"] == "R-1"
    assert me["alternateCustomerRef"] is None and me["customer_state"] == "enabled"
    assert me["active"] is True and me["verified_email"] is None and me["vipStatus"] is None
    assert me["loyaltyTier"] == "silver" and me["spendToNextTier"] is None
    assert me["memberSince"] is None
    invalid = await store.call("PUT", "/me", session=token, json={"dob": "99-99-1999"})
    assert invalid.status == 400 and "dob" in (await invalid.json())["errors"]


async def test_me_addresses_are_the_shoppers_own(store):
    """List, add, update (default moves), delete; another shopper's address is a 404."""
    await store.register("home@example.com")
    other = await store.register("other@example.com")
    token = await store.login("home@example.com")
    other_token = await store.login("other@example.com")
    listed = await store.call("GET", "/me/address", session=token)
    assert listed.status == 200 and await listed.json() == []
    added = await store.call(
        "POST", "/me/address", session=token, json={"city": "Oslo", "countryCode": "NO"}
    )
    assert added.status == 200
    first = (await added.json())["addresses"][0]
    added = await store.call(
        "POST",
        "/me/address",
        session=token,
        json={"city": "Bergen", "countryCode": "NO", "defaultAddress": True},
    )
    second = (await added.json())["addresses"][1]
    assert (await added.json())["defaultAddress"]["id"] == second["id"]
    updated = await store.call(
        "PUT",
        f"/me/address/{first['id']}",
        session=token,
        json={"postcode": "0150", "defaultAddress": True},
    )
    assert updated.status == 200
    body = await updated.json()
    assert body["defaultAddress"]["id"] == first["id"]
    assert body["defaultAddress"]["postcode"] == "0150" and body["defaultAddress"]["city"] == "Oslo"
    assert [a["defaultAddress"] for a in body["addresses"]] == [True, False]
    bad = await store.call(
        "PUT", f"/me/address/{first['id']}", session=token, json={"countryCode": "XX"}
    )
    assert bad.status == 400 and "countryCode" in (await bad.json())["errors"]
    for method in ("PUT", "DELETE"):
        foreign = await store.call(
            method, f"/me/address/{first['id']}", session=other_token, json={"city": "Nope"}
        )
        assert foreign.status == 404, method
    removed = await store.call("DELETE", f"/me/address/{second['id']}", session=token)
    assert [a["id"] for a in (await removed.json())["addresses"]] == [first["id"]]
    listed = await store.call("GET", "/me/address", session=token)
    assert [a["id"] for a in await listed.json()] == [first["id"]]
    others = await store.call("GET", "/me/address", session=other_token)
    assert await others.json() == [] and other["addresses"] == []


async def test_password_change_ends_other_sessions(store):
    """The current password is required; the calling session stays, the others end; the old
    password no longer works."""
    await store.register("change@example.com")
    kept = await store.login("change@example.com")
    other = await store.login("change@example.com")
    wrong = await store.call(
        "PUT", "/me/password", session=kept, json={"password": "nope!!!", "newPassword": "n3wpass!"}
    )
    assert wrong.status == 403 and "password" in (await wrong.json())["errors"]
    weak = await store.call(
        "PUT", "/me/password", session=kept, json={"password": PASSWORD, "newPassword": "short"}
    )
    assert weak.status == 400 and "newPassword" in (await weak.json())["errors"]
    changed = await store.call(
        "PUT", "/me/password", session=kept, json={"password": PASSWORD, "newPassword": "n3w pass!"}
    )
    assert changed.status == 204
    assert await store.session_valid(kept) and not await store.session_valid(other)
    old = await store.call(
        "POST", "/login", json={"username": "change@example.com", "password": PASSWORD}
    )
    assert old.status == 401
    assert await store.login("change@example.com", "n3w pass!")


async def test_admin_reset_and_end_sessions(store):
    """PUT /{id}/password sets a password (a first login for a plain customer) and ends every
    session; DELETE /{id}/sessions ends them all; unknown or malformed ids are 404."""
    created = await store.client.post(
        "/api/v2/customers", json={"email": "plain@example.com"}, headers=store.headers
    )
    customer_id = (await created.json())["id"]
    reset = await store.call("PUT", f"/{customer_id}/password", json={"newPassword": "given pass"})
    assert reset.status == 204
    first = await store.login("plain@example.com", "given pass")
    second = await store.login("plain@example.com", "given pass")
    reset = await store.call("PUT", f"/{customer_id}/password", json={"newPassword": "other pass"})
    assert reset.status == 204
    assert not await store.session_valid(first) and not await store.session_valid(second)
    third = await store.login("plain@example.com", "other pass")
    assert (await store.call("DELETE", f"/{customer_id}/sessions")).status == 204
    assert not await store.session_valid(third)
    for unknown in (uuid.uuid4(), "not-a-uuid"):
        response = await store.call("PUT", f"/{unknown}/password", json={"newPassword": "x" * 9})
        assert response.status == 404
        assert (await store.call("DELETE", f"/{unknown}/sessions")).status == 404


async def test_session_routes_need_the_access_token_header(store):
    """No AccessToken: 401 with the AccessToken challenge; /session says not valid."""
    routes = (("GET", "/me"), ("PUT", "/me"), ("GET", "/me/address"), ("POST", "/logout"))
    for method, path in routes:
        response = await store.call(method, path, json={})
        assert response.status == 401, path
        assert response.headers["WWW-Authenticate"] == f'AccessToken realm="{store.tenant}"'
    assert await (await store.call("GET", "/session")).json() == {"SessionValid": False}


async def test_tokens_are_256_bit_and_stored_only_hashed(store, test_settings):
    """A session token carries 256 random bits; the store holds its SHA-256, never the token;
    guessed tokens of the same shape find nothing."""
    await store.register("guess@example.com")
    token = await store.login("guess@example.com")
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(raw) >= 32
    conn = await asyncpg.connect(test_settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT token_hash FROM customer.shopper_sessions WHERE tenant_id = $1", store.tenant
        )
        dump = await conn.fetchval(
            "SELECT string_agg(t::text, ' ') FROM customer.shopper_sessions AS t "
            "WHERE tenant_id = $1",
            store.tenant,
        )
    finally:
        await conn.close()
    assert [bytes(r["token_hash"]) for r in rows] == [hashlib.sha256(token.encode()).digest()]
    assert token not in dump
    guesses = [secrets.token_urlsafe(32) for _ in range(50)]
    results = await asyncio.gather(*(store.session_valid(g) for g in guesses))
    assert not any(results)


@pytest.fixture
async def otp_queue(test_settings):
    async with otp_events(test_settings.amqp_url) as queue:
        yield queue


async def test_otp_login_through_the_outbox(store, otp_queue, test_settings):
    """POST /otp publishes the code on shopper.notifications (ids only), blanks the stored
    copy once published; the code logs in once."""
    customer = await store.register("otp@example.com", mobile="+4799999999")
    sent = await store.call("POST", "/otp", json={"username": "+4799999999", "channel": "sms"})
    assert sent.status == 202
    challenge = await sent.json()
    assert set(challenge) == {"otptoken", "expires_at"}
    event, message = await next_otp(otp_queue, store.tenant)
    assert message.routing_key == SHOPPER_OTP_REQUESTED
    assert set(event) >= {"eventId", "tenant", "occurredAt", "customer", "channel", "code"}
    assert event["customer"] == {"id": customer["id"]} and event["channel"] == "sms"
    assert event["expiresAt"] == challenge["expires_at"]
    assert len(event["code"]) == 6 and event["code"].isdigit()
    assert "otp@example.com" not in message.body.decode()

    async def blanked() -> bool:
        conn = await asyncpg.connect(test_settings.database_url)
        try:
            payload = await conn.fetchval(
                "SELECT payload FROM customer.outbox WHERE event_id = $1 AND sent_at IS NOT NULL",
                uuid.UUID(event["eventId"]),
            )
        finally:
            await conn.close()
        return payload is not None and orjson.loads(payload)["code"] == ""

    await eventually(blanked)
    login = await store.call(
        "POST",
        "/login/otp",
        headers={"otptoken": challenge["otptoken"]},
        json={"username": "otp@example.com", "otp": event["code"]},
    )
    assert login.status == 200
    assert (await login.json())["Token"]["UserId"] == customer["id"]
    again = await store.call(
        "POST",
        "/login/otp",
        headers={"otptoken": challenge["otptoken"]},
        json={"username": "otp@example.com", "otp": event["code"]},
    )
    assert again.status == 401


async def test_otp_is_always_202_and_limited_per_username(store):
    """An unknown username gets a 202 like a known one; a second send within 30 s is a 429 with
    Retry-After, for known and unknown usernames alike."""
    await store.register("limit@example.com")
    for username in ("limit@example.com", "nobody@example.com"):
        first = await store.call("POST", "/otp", json={"username": username, "channel": "email"})
        assert first.status == 202
        assert set(await first.json()) == {"otptoken", "expires_at"}
        second = await store.call("POST", "/otp", json={"username": username, "channel": "email"})
        assert second.status == 429 and 0 < int(second.headers["Retry-After"]) <= 30
    bad = await store.call("POST", "/otp", json={"username": "limit@example.com", "channel": "fax"})
    assert bad.status == 400 and "channel" in (await bad.json())["errors"]


async def test_me_shows_the_shoppers_order_figures(store, shop_app, mint):
    """GET /me renders the computed spend fields like every other read (API.md §11)."""
    customer = await store.register("buyer@example.com")
    fact = {"orderRef": "S-1", "customerId": customer["id"], "orderDate": "2026-11-01T00:00:00Z",
            "total": "42.00", "currency": "EUR", "status": "placed"}  # fmt: skip
    posted = await shop_app.post(
        "/api/v2/order-events", json=fact, headers=mint.headers(store.tenant)
    )
    assert posted.status == 202
    response = await store.call(
        "POST", "/login", json={"username": "buyer@example.com", "password": PASSWORD}
    )
    token = (await response.json())["Token"]
    me = await (await store.call("GET", "/me", session=token["AccessToken"])).json()
    assert (me["totalOrders"], me["totalSpend"], me["lastOrderRef"]) == ("1", "42.00", "S-1")
