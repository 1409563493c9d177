"""Password hashing with argon2id (argon2-cffi), off the event loop, with a constant amount of
work per login: an unknown username is verified against a dummy hash of the same cost, so the
answer takes as long as for a known one."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

T = TypeVar("T")


class PasswordHasher:
    """Hashes and verifies on a small thread pool (one thread per core): argon2 releases the GIL,
    and the pool bounds the memory the hashes in flight take (memory_kib each)."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._argon2 = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._executor = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 1, thread_name_prefix="argon2"
        )
        # Verified in place of a missing hash: the same parameters, so the same cost.
        self._dummy = self._argon2.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await self._run(self._argon2.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored`; with no stored hash, one dummy verification is
        done anyway and the answer is False."""
        matches = await self._run(self.check, stored or self._dummy, password)
        return matches and stored is not None

    def check(self, stored: str, password: str) -> bool:
        """One argon2 verification (blocking)."""
        try:
            return self._argon2.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """The stored hash was made with other parameters than today's settings."""
        return self._argon2.check_needs_rehash(stored)

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
