"""The worker's memory of known tenants (impex_worker.imports.intake.KnownTenants): a queue drop
is checked against auth.tenants, cheaply."""

from __future__ import annotations

from typing import Any

from impex_worker.imports.intake import KnownTenants
from shared.tenants import TENANT_EXISTS


class FakeConnection:
    def __init__(self, tenants: set[str], queries: list[str]) -> None:
        self._tenants = tenants
        self._queries = queries

    async def fetchval(self, query: str, tenant: str) -> bool:
        assert query == TENANT_EXISTS
        self._queries.append(tenant)
        return tenant in self._tenants


class FakePool:
    """Just what `shared.db.connection` uses."""

    def __init__(self, tenants: set[str]) -> None:
        self.tenants = tenants
        self.queries: list[str] = []

    async def acquire(self, *, timeout: float) -> FakeConnection:
        return FakeConnection(self.tenants, self.queries)

    async def release(self, conn: Any) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_known_tenant_is_remembered_for_a_while() -> None:
    pool, clock = FakePool({"acme"}), Clock()
    tenants = KnownTenants(pool, ttl=60.0, monotonic=clock)  # type: ignore[arg-type]
    assert await tenants.known("acme")
    clock.now += 59
    assert await tenants.known("acme")
    assert pool.queries == ["acme"]
    clock.now += 2
    assert await tenants.known("acme")
    assert pool.queries == ["acme", "acme"]


async def test_an_unknown_tenant_is_looked_up_every_time() -> None:
    """So a tenant provisioned right before its first drop is not refused from a stale answer."""
    pool = FakePool(set())
    tenants = KnownTenants(pool, monotonic=Clock())  # type: ignore[arg-type]
    assert not await tenants.known("ghost")
    pool.tenants.add("ghost")
    assert await tenants.known("ghost")
    assert pool.queries == ["ghost", "ghost"]


async def test_a_tenant_that_disappears_is_forgotten_once_its_time_is_up() -> None:
    pool, clock = FakePool({"gone"}), Clock()
    tenants = KnownTenants(pool, ttl=60.0, monotonic=clock)  # type: ignore[arg-type]
    assert await tenants.known("gone")
    pool.tenants.clear()
    clock.now += 61
    assert not await tenants.known("gone")
