"""Pure parts of shopper accounts: scopes by path, secrets, hashing, address merge, the
OpenAPI rows."""

from __future__ import annotations

import asyncio
import base64

import pytest

from customer_service.shoppers.limits import _key
from customer_service.shoppers.passwords import PasswordHasher
from customer_service.shoppers.rules import RETAILER_OWNED_FIELDS, shopper_fields
from customer_service.shoppers.tokens import code_hash, new_code, new_token, token_hash
from shared.authz import ALL_SCOPES, DEFAULT_SCOPES, required_scope
from shared.customers.rules import update_address
from tests.support.openapi_build import build_document

V2 = "/api/v2/shoppers"


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("POST", f"{V2}/login", "shoppers:auth"),
        ("POST", f"{V2}/register", "shoppers:auth"),
        ("GET", f"{V2}/me", "shoppers:auth"),
        ("PUT", f"{V2}/me/password", "shoppers:auth"),
        ("DELETE", f"{V2}/me/address/abc", "shoppers:auth"),
        ("PUT", f"{V2}/0b7c/password", "shoppers:admin"),
        ("PUT", f"{V2}/0b7c/password/", "shoppers:admin"),
        ("DELETE", f"{V2}/0b7c/sessions", "shoppers:admin"),
        ("GET", "/api/v2/customers/x", "customers:read"),
    ],
)
def test_shopper_routes_need_the_shopper_scopes(method, path, scope):
    assert required_scope(method, path) == scope


def test_shopper_scopes_are_known_but_not_default():
    assert {"shoppers:auth", "shoppers:admin"} <= set(ALL_SCOPES)
    assert not {"shoppers:auth", "shoppers:admin"} & set(DEFAULT_SCOPES)


def test_tokens_carry_256_random_bits_and_hash_apart():
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in list(tokens)[:10]:
        assert len(base64.urlsafe_b64decode(token + "=")) == 32
        assert token_hash(token) != token.encode() and len(token_hash(token)) == 32


def test_codes_are_six_digits_bound_to_their_challenge():
    codes = [new_code() for _ in range(200)]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert code_hash(b"a" * 32, "123456") != code_hash(b"b" * 32, "123456")


def test_redis_keys_hold_no_username_and_keep_the_tenant_together():
    key = _key("acme", "login-failures", " Ann@Example.com ")
    assert "ann" not in key.lower().split("}")[1] and key.startswith("shopper:{acme}:")
    assert key == _key("acme", "login-failures", "ann@example.com")
    assert key != _key("other", "login-failures", "ann@example.com")


def test_an_unknown_user_is_verified_against_a_dummy_hash():
    """verify(None, …) does one argon2 verification and says no; a real hash verifies."""
    hasher = PasswordHasher(time_cost=1, memory_kib=8, parallelism=1)
    calls = []
    real_check = hasher.check
    hasher.check = lambda stored, password: calls.append(stored) or real_check(stored, password)

    async def run() -> tuple[bool, bool, bool]:
        stored = await hasher.hash("s3cret pass")
        return (
            await hasher.verify(None, "s3cret pass"),
            await hasher.verify(stored, "s3cret pass"),
            await hasher.verify(stored, "wrong"),
        )

    try:
        assert asyncio.run(run()) == (False, True, False)
    finally:
        hasher.close()
    assert len(calls) == 3 and calls[0].startswith("$argon2id$")


def test_argon2_cost_follows_the_settings():
    hasher = PasswordHasher(time_cost=2, memory_kib=16, parallelism=1)
    try:
        stored = asyncio.run(hasher.hash("pw pw pw pw"))
        assert stored.startswith("$argon2id$v=19$m=16,t=2,p=1$")
        other = PasswordHasher(time_cost=1, memory_kib=16, parallelism=1)
        assert other.needs_rehash(stored)
        other.close()
    finally:
        hasher.close()


def test_shopper_fields_drop_what_the_retailer_owns():
    body = {field: "x" for field in RETAILER_OWNED_FIELDS} | {"firstName": "Ann"}
    assert shopper_fields(body) == {"firstName": "Ann"}
    assert shopper_fields(["not", "a", "dict"]) == ["not", "a", "dict"]


def test_update_address_merges_and_moves_the_default():
    current = [
        {"id": "a", "city": "Oslo", "defaultAddress": True},
        {"id": "b", "city": "Bergen", "postcode": "5003"},
    ]
    result = update_address(current, "b", {"postcode": None, "defaultAddress": True, "id": "z"})
    assert result == [
        {"id": "a", "city": "Oslo"},
        {"id": "b", "city": "Bergen", "defaultAddress": True},
    ]
    assert update_address(current, "nope", {"city": "X"}) is None
    assert current[0]["defaultAddress"] is True  # the input is not changed


def test_openapi_documents_every_shopper_route_with_its_headers_and_scope():
    document = build_document()
    base = "/services/customerservice/api/v2/shoppers"
    paths = {p: item for p, item in document["paths"].items() if p.startswith(base)}
    operations = {(m, p) for p, item in paths.items() for m in item if m != "parameters"}
    assert len(operations) == 15
    me = paths[f"{base}/me"]["get"]
    assert {"name": "AccessToken", "in": "header"}.items() <= me["parameters"][1].items()
    assert "shoppers:auth" in me["description"] and me["tags"] == ["shoppers"]
    admin = paths[f"{base}/{{customer_id}}/sessions"]["delete"]
    assert "shoppers:admin" in admin["description"]
    otp_login = paths[f"{base}/login/otp"]["post"]
    assert any(p.get("name") == "otptoken" for p in otp_login["parameters"])
    login = paths[f"{base}/login"]["post"]
    assert login["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ShopperLogin"
    }
