"""A readiness check is a named coroutine that raises when its dependency does not answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    name: str
    probe: Callable[[], Awaitable[object]]
