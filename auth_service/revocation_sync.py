"""Revoked access tokens and clients: PostgreSQL is the source of truth, Redis the view that the
gateway and the services follow (shared.revocations defines its keys and channel).

A revocation is written to PostgreSQL first, then announced over Redis. `RevocationSync` (one
task per auth_service replica) rebuilds the Redis view at start and then re-checks it every
`revocation_resync_seconds`: whatever PostgreSQL holds and Redis lacks (Redis restarted empty or
flushed, or down when a revocation was made) is written and announced again, and rows past any
token's life are deleted. Each check is one indexed query and one MGET.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from auth_service import repository
from auth_service.errors import TemporarilyUnavailable
from shared import db
from shared.errors import Unavailable
from shared.revocations import (
    publish_client_revocation,
    publish_token_revocation,
    revoked_client_key,
    revoked_token_key,
)

log = structlog.get_logger("revocations")

_REDIS_ERRORS = (RedisError, OSError, TimeoutError)
_DB_ERRORS = (Unavailable, asyncpg.PostgresError, *db.CONNECTION_ERRORS)


class RevocationStore:
    def __init__(self, pool: asyncpg.Pool, redis: Redis, *, leeway_seconds: int) -> None:
        self._pool = pool
        self._redis = redis
        # Verifiers accept a token until exp + leeway: the mark must outlive that.
        self._leeway = leeway_seconds

    async def revoke(self, tenant: str, client_id: str, jti: str, exp: int) -> None:
        """Record `jti` revoked until the token is dead everywhere, and tell every listener now.
        Stored but not announced (Redis down): 503, and the sync announces it once Redis is back."""
        keep_until = exp + self._leeway
        if keep_until <= time.time():
            return
        try:
            async with db.connection(self._pool) as conn:
                await repository.insert_revoked_token(
                    conn, tenant, jti, client_id, expires_at=exp, keep_until=keep_until
                )
        except _DB_ERRORS as exc:
            raise TemporarilyUnavailable("The revocation list is not available.") from exc
        try:
            await publish_token_revocation(self._redis, jti, exp, keep_until=keep_until)
        except _REDIS_ERRORS as exc:
            raise TemporarilyUnavailable("The revocation list is not available.") from exc

    async def is_revoked(self, tenant: str, jti: str) -> bool:
        """The authoritative answer, from PostgreSQL (introspection)."""
        try:
            async with db.connection(self._pool) as conn:
                return await repository.revoked_token_exists(conn, tenant, jti)
        except _DB_ERRORS as exc:
            raise TemporarilyUnavailable("The revocation list is not available.") from exc


class RevocationSync:
    """Keeps Redis holding every live revocation PostgreSQL knows."""

    def __init__(self, pool: asyncpg.Pool, redis: Redis, *, token_lifetime_seconds: float) -> None:
        self._pool = pool
        self._redis = redis
        # A client revoked longer ago than this has no live token left (ttl + leeway).
        self._lifetime = token_lifetime_seconds

    async def sync_once(self) -> int:
        """Write and announce what Redis lacks; delete dead rows. Returns how many were missing."""
        async with db.connection(self._pool) as conn:
            tokens = await repository.fetch_live_revoked_tokens(conn)
            clients = await repository.fetch_recently_revoked_clients(conn, self._lifetime)
            await repository.delete_dead_revoked_tokens(conn)
        keys = [revoked_token_key(t.jti) for t in tokens] + [
            revoked_client_key(c.tenant, c.client_id) for c in clients
        ]
        present = await self._redis.mget(keys) if keys else []
        missing = 0
        for token, value in zip(tokens, present[: len(tokens)], strict=True):
            if value is None:
                missing += 1
                await publish_token_revocation(
                    self._redis, token.jti, int(token.expires_at), keep_until=int(token.keep_until)
                )
        for client, value in zip(clients, present[len(tokens) :], strict=True):
            if value is None:
                missing += 1
                revoked_at = int(client.revoked_at)
                await publish_client_revocation(
                    self._redis,
                    client.tenant,
                    client.client_id,
                    revoked_at=revoked_at,
                    keep_until=int(revoked_at + self._lifetime),
                )
        if missing:
            log.warning("revocations missing from redis restored", count=missing)
        return missing

    async def run(self, interval_seconds: float) -> None:
        """Background: sync at start, then every `interval_seconds`; failures are retried."""
        while True:
            try:
                await self.sync_once()
            except (*_DB_ERRORS, *_REDIS_ERRORS) as exc:
                log.warning("revocations not synced to redis", error=type(exc).__name__)
            await asyncio.sleep(interval_seconds)
