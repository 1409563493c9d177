"""Client secret hashing: scrypt, salted, self-describing, constant-time compare."""

from __future__ import annotations

import base64

from auth_service.client_secrets import (
    decoy_hash,
    generate_secret,
    hash_secret,
    verify_secret,
    verify_secret_async,
)


def test_generated_secrets_are_long_random_and_url_safe() -> None:
    """Secrets carry 256 bits in URL-safe characters, and never repeat."""
    secrets = {generate_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert len(secret) == 43
        assert set(secret) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_hash_has_the_documented_format() -> None:
    """`scrypt$n$r$p$salt_b64$hash_b64` with n=2**14, r=8, p=1, a 16-byte salt."""
    scheme, n, r, p, salt, digest = hash_secret("s3cret").split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32


def test_same_secret_hashes_differently_each_time() -> None:
    """A fresh salt per hash: equal secrets do not give equal hashes."""
    assert hash_secret("same") != hash_secret("same")


def test_verify_accepts_the_secret_and_rejects_others() -> None:
    """Only the hashed secret verifies."""
    stored = hash_secret("right")
    assert verify_secret("right", stored)
    assert not verify_secret("wrong", stored)
    assert not verify_secret("right ", stored)


def test_malformed_or_foreign_hashes_never_verify() -> None:
    """A corrupt or non-scrypt hash is a failed check, not an exception."""
    stored = hash_secret("right")
    scheme, n, r, p, salt, digest = stored.split("$")
    for broken in (
        "",
        "plain-text",
        f"bcrypt${n}${r}${p}${salt}${digest}",
        f"{scheme}$x${r}${p}${salt}${digest}",
        f"{scheme}${2**30}${r}${p}${salt}${digest}",
        f"{scheme}${n}${r}${p}$!!!${digest}",
        f"{scheme}${n}${r}${p}${salt}$",
    ):
        assert not verify_secret("right", broken)


async def test_unknown_client_checks_the_decoy_and_fails() -> None:
    """No stored hash (unknown client) is always a failure, after a decoy check."""
    assert decoy_hash() == decoy_hash()
    assert not await verify_secret_async("anything", None)
    assert await verify_secret_async("right", hash_secret("right"))
