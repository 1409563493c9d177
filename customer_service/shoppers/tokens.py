"""Opaque secrets of shopper accounts: session tokens, OTP challenges and codes.

Tokens are 256 random bits; only their SHA-256 is stored (a slow hash buys nothing for a secret
that cannot be guessed, and a session check must stay cheap). A stolen table yields no token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits


def new_token() -> str:
    """A fresh opaque token (URL-safe base64 of 256 random bits, 43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def code_hash(challenge_hash: bytes, code: str) -> bytes:
    """The stored form of an OTP code, bound to its challenge (the same code in another
    challenge hashes differently)."""
    return hmac.new(challenge_hash, code.encode(), hashlib.sha256).digest()


def same_hash(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
