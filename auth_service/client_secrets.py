"""Client secrets: generated once, shown once, stored only as a salted scrypt hash.

Format: `scrypt$n$r$p$salt_b64$hash_b64`, so the cost parameters can be raised later without
invalidating the secrets already stored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import os
import secrets

SCHEME = "scrypt"
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
# scrypt needs 128 * n * r bytes (16 MiB here); the default cap (32 MiB) leaves too little room
# for a stronger n read back from a stored hash.
_MAX_MEMORY = 128 * 1024 * 1024
# Bounds on what a stored hash may ask for, so a corrupt row cannot make one check run for minutes.
_MAX_N = 2**20


def generate_secret() -> str:
    """A new client secret: 256 random bits, URL-safe (no character needs escaping anywhere)."""
    return secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=_MAX_MEMORY
    )


def hash_secret(secret: str) -> str:
    """The stored form of `secret`: a fresh salt and the scrypt digest. CPU-heavy (~50 ms)."""
    salt = os.urandom(SALT_BYTES)
    digest = _scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return f"{SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether `secret` matches the stored hash (constant-time compare); malformed hash: False."""
    try:
        scheme, n_text, r_text, p_text, salt_b64, digest_b64 = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(digest_b64, validate=True)
    except (ValueError, binascii.Error):
        return False
    if scheme != SCHEME or not (1 < n <= _MAX_N) or not (0 < r <= 32) or not (0 < p <= 16):
        return False
    if not expected:
        return False
    try:
        actual = _scrypt(secret, salt, n, r, p, len(expected))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def decoy_hash() -> str:
    """A hash no secret is known for: checked when the client does not exist, so that an unknown
    client id costs as much time as a wrong secret (no client-id enumeration by timing)."""
    return hash_secret(generate_secret())


async def hash_secret_async(secret: str) -> str:
    """`hash_secret` off the event loop."""
    return await asyncio.to_thread(hash_secret, secret)


async def verify_secret_async(secret: str, stored: str | None) -> bool:
    """`verify_secret` off the event loop; `stored=None` (no such client) checks the decoy."""
    if stored is None:
        await asyncio.to_thread(lambda: verify_secret(secret, decoy_hash()))
        return False
    return await asyncio.to_thread(verify_secret, secret, stored)
