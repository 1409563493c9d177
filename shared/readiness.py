"""A readiness check is a named coroutine that raises when its dependency does not answer.

A check that is not `required` names a dependency the service can serve without (degraded):
its failure is reported by the detailed `/readyz` but leaves the service ready, so a balancer
or Kubernetes keeps sending it traffic (auth_service without Redis still issues tokens)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    name: str
    probe: Callable[[], Awaitable[object]]
    required: bool = True
