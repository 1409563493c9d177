"""RS256 signing keys: generation, the suite-wide JWKS, and the in-memory key ring.

Each replica caches the keys and notices a rotation, retirement or revocation (done by another
replica or the CLI) by asking the database for the current and the published kids before signing
and before serving the JWKS; that one tiny query per token is cheap next to the scrypt check that
precedes it. A background task also
reloads every `refresh_seconds` and, on a fresh database, creates the first key.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from auth_service import repository
from auth_service.repository import StoredKey
from shared import db
from shared.errors import NotFound, Unavailable
from shared.retry import Backoff
from shared.tokens import ALGORITHM

log = structlog.get_logger("signing")

KEY_SIZE = 2048
# An unknown kid in a presented token triggers at most one reload per this many seconds.
_UNKNOWN_KID_RELOAD_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class NewKey:
    kid: str
    private_key_pem: str
    public_jwk: dict[str, Any]

    def __repr__(self) -> str:
        return f"NewKey(kid={self.kid!r})"


def generate_key() -> NewKey:
    """A fresh RSA 2048 key with a random kid (CPU-heavy: run it in a thread)."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    # Hex: a kid never starts with '-', which a command line would take for an option.
    kid = secrets.token_hex(16)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    public_jwk = {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": ALGORITHM,
        "n": jwk["n"],
        "e": jwk["e"],
    }
    return NewKey(kid, pem, public_jwk)


async def ensure_current_key(conn: asyncpg.Connection) -> str | None:
    """Create a signing key if none is active; returns the new kid, or None if one existed.

    Replicas starting together race here: the advisory lock lets one create the key, the others
    see it when they get the lock."""
    if await repository.fetch_current_kid(conn) is not None:
        return None
    new = await asyncio.to_thread(generate_key)
    async with conn.transaction():
        await repository.lock_signing_keys(conn)
        if await repository.fetch_current_kid(conn) is not None:
            return None
        await repository.insert_signing_key(conn, new.kid, new.private_key_pem, new.public_jwk)
    log.info("signing key created", kid=new.kid)
    return new.kid


async def rotate_keys(conn: asyncpg.Connection) -> tuple[str, list[str]]:
    """Retire the active key(s) and make a new one current: (new kid, retired kids)."""
    new = await asyncio.to_thread(generate_key)
    async with conn.transaction():
        await repository.lock_signing_keys(conn)
        retired = await repository.retire_signing_keys(conn)
        await repository.insert_signing_key(conn, new.kid, new.private_key_pem, new.public_jwk)
    log.info("signing keys rotated", kid=new.kid, retired=retired)
    return new.kid, retired


async def retire_key(conn: asyncpg.Connection, kid: str, *, revoke: bool) -> str | None:
    """Retire `kid` (it signs no more, and stays published until the tokens it signed have
    expired) or revoke it (unpublished at once: every token it signed is refused). A new current
    key is made if none is left. Returns the new kid, if one was made; NotFound for no such key."""
    new = await asyncio.to_thread(generate_key)
    async with conn.transaction():
        await repository.lock_signing_keys(conn)
        change = repository.revoke_signing_key if revoke else repository.retire_signing_key
        if not await change(conn, kid):
            raise NotFound(f"No signing key {kid!r}.")
        made = None
        if await repository.fetch_current_kid(conn) is None:
            await repository.insert_signing_key(conn, new.kid, new.private_key_pem, new.public_jwk)
            made = new.kid
    log.info("signing key revoked" if revoke else "signing key retired", kid=kid, current=made)
    return made


@dataclass(frozen=True, slots=True)
class LoadedKey:
    kid: str
    public_jwk: dict[str, Any]
    public_key: Any
    private_key_pem: str
    retired_at_epoch: float | None


class KeyRing:
    """The signing keys of this replica, cached from `auth.signing_keys`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        token_ttl_seconds: int,
        leeway_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool = pool
        # A retired key is published until every token it signed has expired for every verifier.
        self._grace = float(token_ttl_seconds + leeway_seconds)
        self._clock = clock
        self._keys: dict[str, LoadedKey] = {}
        self._published: set[str] = set()
        self._current_kid: str | None = None
        self._private_keys: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._last_unknown_reload = float("-inf")

    @property
    def current_kid(self) -> str | None:
        return self._current_kid

    async def reload(self) -> None:
        """Load the published keys from the database (creating the first one if there is none)."""
        async with self._lock, db.connection(self._pool) as conn:
            try:
                await ensure_current_key(conn)
                stored = await repository.fetch_published_keys(conn, self._grace)
                current = await repository.fetch_current_kid(conn)
            except db.CONNECTION_ERRORS as exc:
                raise Unavailable("The database is not available.") from exc
        self._keys = {key.kid: self._loaded(key) for key in stored}
        self._published = {key.kid for key in stored}
        self._current_kid = current
        self._private_keys = {
            kid: key for kid, key in self._private_keys.items() if kid in self._keys
        }

    def _loaded(self, key: StoredKey) -> LoadedKey:
        known = self._keys.get(key.kid)
        public_key = known.public_key if known else RSAAlgorithm.from_jwk(key.public_jwk)
        return LoadedKey(
            kid=key.kid,
            public_jwk=key.public_jwk,
            public_key=public_key,
            private_key_pem=key.private_key_pem,
            retired_at_epoch=key.retired_at.timestamp() if key.retired_at else None,
        )

    async def sync(self) -> None:
        """Reload if the database's current kid or published kids are not ours. The database
        down: keep the cache if there is one (signing and the JWKS go on with the keys we have),
        else 503."""
        try:
            async with db.connection(self._pool, timeout=2.0) as conn:
                current, published = await repository.fetch_published_kids(conn, self._grace)
            if current is None or current != self._current_kid or published != self._published:
                await self.reload()
        except (Unavailable, *db.CONNECTION_ERRORS):
            if self._current_kid is None:
                raise Unavailable("No signing key is available.") from None
            log.warning("signing keys not synced: database unavailable")

    async def signing_key(self) -> tuple[str, Any]:
        """(kid, private key) of the current key, freshly checked against the database."""
        await self.sync()
        kid = self._current_kid
        if kid is None or kid not in self._keys:
            raise Unavailable("No signing key is available.")
        private_key = self._private_keys.get(kid)
        if private_key is None:
            pem = self._keys[kid].private_key_pem.encode("ascii")
            private_key = await asyncio.to_thread(
                serialization.load_pem_private_key, pem, password=None
            )
            self._private_keys[kid] = private_key
        return kid, private_key

    async def verification_key(self, kid: str) -> Any | None:
        """The public key for `kid`, reloading (rate-limited) when it is not known yet."""
        key = self._keys.get(kid)
        if key is None and self._clock() - self._last_unknown_reload > _UNKNOWN_KID_RELOAD_SECONDS:
            self._last_unknown_reload = self._clock()
            with contextlib.suppress(Unavailable):
                await self.reload()
            key = self._keys.get(kid)
        return key.public_key if key is not None else None

    async def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWKS document: the current key first, then retired keys still in their grace."""
        await self.sync()
        now = self._clock()
        keys = [
            key.public_jwk
            for key in self._keys.values()
            if key.retired_at_epoch is None or key.retired_at_epoch + self._grace > now
        ]
        return {"keys": keys}

    async def run(self, refresh_seconds: float) -> None:
        """Background: reload every `refresh_seconds`; retry sooner (backing off, jittered)
        while the database is down and no keys are loaded yet."""
        backoff = Backoff(base=min(2.0, refresh_seconds), cap=refresh_seconds)
        while True:
            try:
                await self.reload()
                backoff.reset()
                delay = refresh_seconds
            except Exception as exc:  # keep trying: the service becomes ready when the DB answers
                log.warning("signing keys not loaded", error=type(exc).__name__)
                delay = refresh_seconds if self._current_kid else backoff.next_delay()
            await asyncio.sleep(delay)
