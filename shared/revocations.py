"""Revoked tokens and clients: written to Redis by auth_service, mirrored locally everywhere else.

Keys (each expires when every token it concerns is dead anyway):
  revoked-token:{jti}                → the token's exp
  revoked-client:{tenant}:{client}   → when the client was revoked (its older tokens are refused)
Channel `token-revocations` carries the same facts as JSON, so a verifier learns of a revocation
within milliseconds, and `{"keys": "changed"}` (a signing key was retired or revoked: refetch
the JWKS now). Verifiers never ask Redis per request: they keep a local copy, loaded by SCAN at
start and kept in sync from the channel, and go on using it while Redis is down.

PostgreSQL is the source of truth (auth.revoked_tokens, auth.clients.revoked_at): Redis is a view
that auth_service rebuilds from it at start and re-checks on a schedule (a flushed or restarted
Redis is filled again, each fact announced on the channel as if new; auth_service.revocation_sync).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis

log = structlog.get_logger("revocations")

REVOKED_TOKEN_PREFIX = "revoked-token:"
REVOKED_CLIENT_PREFIX = "revoked-client:"
REVOCATIONS_CHANNEL = "token-revocations"
# The longest one channel read waits: bounds how long a stop request can go unnoticed.
READ_SLICE_SECONDS = 1.0


def revoked_token_key(jti: str) -> str:
    return f"{REVOKED_TOKEN_PREFIX}{jti}"


def revoked_client_key(tenant: str, client_id: str) -> str:
    return f"{REVOKED_CLIENT_PREFIX}{tenant}:{client_id}"


async def publish_token_revocation(redis: Redis, jti: str, exp: int, *, keep_until: int) -> None:
    """Record a revoked token until `keep_until` and tell every listener now."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(revoked_token_key(jti), str(exp), exat=keep_until)
        pipe.publish(REVOCATIONS_CHANNEL, orjson.dumps({"jti": jti, "exp": exp}))
        await pipe.execute()


async def publish_client_revocation(
    redis: Redis, tenant: str, client_id: str, *, revoked_at: int, keep_until: int
) -> None:
    """Record that the client's tokens issued up to `revoked_at` are void, until `keep_until`."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(revoked_client_key(tenant, client_id), str(revoked_at), exat=keep_until)
        pipe.publish(
            REVOCATIONS_CHANNEL,
            orjson.dumps(
                {"tenant": tenant, "client": client_id, "revokedAt": revoked_at, "exp": keep_until}
            ),
        )
        await pipe.execute()


async def publish_keys_changed(redis: Redis) -> None:
    """Tell every verifier to refetch the JWKS now (a key was retired or revoked)."""
    await redis.publish(REVOCATIONS_CHANNEL, orjson.dumps({"keys": "changed"}))


class RevocationList:
    """The local denylist. `is_revoked` is a dict lookup; `run` keeps it in sync."""

    def __init__(self, redis_url: str, *, resync_seconds: float = 60.0) -> None:
        self._redis_url = redis_url
        self._resync_seconds = resync_seconds
        self._tokens: dict[str, float] = {}  # jti → until when to remember it
        self._clients: dict[tuple[str, str], tuple[float, float]] = {}  # → (revoked_at, until)
        self.synced = asyncio.Event()
        # Called on a "the signing keys changed" message (the token verifier's refresh).
        self.on_keys_changed: Callable[[], None] | None = None

    def is_revoked(self, *, jti: str, tenant: str, client_id: str, issued_at: float) -> bool:
        if jti in self._tokens:
            return True
        client = self._clients.get((tenant, client_id))
        return client is not None and issued_at <= client[0]

    def add_token(self, jti: str, until: float) -> None:
        self._tokens[jti] = until

    def add_client(self, tenant: str, client_id: str, revoked_at: float, until: float) -> None:
        self._clients[(tenant, client_id)] = (revoked_at, until)

    def _apply(self, message: dict[str, Any]) -> None:
        if message.get("keys") == "changed":
            if self.on_keys_changed is not None:
                self.on_keys_changed()
        elif "jti" in message:
            self.add_token(str(message["jti"]), float(message.get("exp", time.time() + 3600)))
        elif "client" in message and "tenant" in message:
            self.add_client(
                str(message["tenant"]),
                str(message["client"]),
                float(message["revokedAt"]),
                float(message.get("exp", time.time() + 3600)),
            )

    def _purge(self) -> None:
        now = time.time()
        self._tokens = {jti: until for jti, until in self._tokens.items() if until > now}
        self._clients = {key: v for key, v in self._clients.items() if v[1] > now}

    async def _load(self, redis: Redis) -> None:
        fallback = time.time() + 3600
        for prefix in (REVOKED_TOKEN_PREFIX, REVOKED_CLIENT_PREFIX):
            keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
            for start in range(0, len(keys), 1000):
                batch = keys[start : start + 1000]
                for key, value in zip(batch, await redis.mget(batch), strict=True):
                    if value is None:
                        continue  # expired between SCAN and MGET
                    name = key.decode()[len(prefix) :]
                    if prefix == REVOKED_TOKEN_PREFIX:
                        self.add_token(name, _number(value, fallback))
                    else:
                        tenant, _, client = name.partition(":")
                        self.add_client(tenant, client, _number(value, 0.0), fallback)

    async def run(self) -> None:
        """Subscribe, then load (so nothing falls between), then follow the channel. On any
        failure keep the local copy and retry with backoff."""
        backoff = 0.5
        while True:
            redis = Redis.from_url(self._redis_url, socket_connect_timeout=2)
            try:
                async with redis.pubsub() as pubsub:
                    await pubsub.subscribe(REVOCATIONS_CHANNEL)
                    await self._load(redis)
                    self.synced.set()
                    backoff = 0.5
                    last_purge = time.monotonic()
                    while True:
                        # Short reads, not one per resync interval: a cancellation that the
                        # read swallowed (see shared.app_factory.cancel_and_wait) is still pending
                        # on the task, and is honoured here within one slice.
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True,
                            timeout=min(READ_SLICE_SECONDS, self._resync_seconds),
                        )
                        _raise_if_cancelling()
                        if message is not None and message["type"] == "message":
                            with contextlib.suppress(ValueError, KeyError, TypeError):
                                self._apply(orjson.loads(message["data"]))
                        if time.monotonic() - last_purge > self._resync_seconds:
                            self._purge()
                            last_purge = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: the local copy keeps protecting
                # …unless the error is how a cancellation came out of redis-py: stop then.
                _raise_if_cancelling()
                log.error("revocation sync lost, using the local copy", error=type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await redis.aclose()


def _raise_if_cancelling() -> None:
    """Re-raise a cancellation requested of this task that something below swallowed."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()


def _number(raw: bytes, default: float) -> float:
    try:
        return float(raw)
    except ValueError:
        return default
