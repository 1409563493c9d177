"""Tokens for tests that run a service without auth_service: a key of our own, served as JWKS
over real HTTP, so the service under test verifies exactly as in production."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.authz import ALL_SCOPES
from shared.settings import Settings


class TokenMint:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kid = uuid.uuid4().hex
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def claims(self, tenant: str, scopes: tuple[str, ...] = ALL_SCOPES) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.settings.issuer_for(tenant),
            "sub": "test-client",
            "aud": self.settings.token_audience,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "tenant": tenant,
            "scope": " ".join(scopes),
        }

    def token(self, tenant: str, scopes: tuple[str, ...] = ALL_SCOPES, **overrides: Any) -> str:
        claims = {**self.claims(tenant, scopes), **overrides}
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})

    def claims_of(self, token: str) -> dict[str, Any]:
        return jwt.decode(token, options={"verify_signature": False})

    def headers(self, tenant: str, scopes: tuple[str, ...] = ALL_SCOPES) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant, scopes)}", "X-TWC-Tenant": tenant}
