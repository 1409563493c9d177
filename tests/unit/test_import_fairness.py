"""Fair import slots (impex_worker.imports.fair): one tenant's flood of batches does not hold
back another tenant's import."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import orjson

from impex_worker.imports.fair import FairSlots
from impex_worker.imports.handlers import import_handler


@dataclass
class Message:
    body: bytes
    headers: dict = field(default_factory=dict)
    redelivered: bool = False


class BlockingRunner:
    """Records which batches started, in order; each runs until the test lets it end."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.finish: dict[tuple[str, int], asyncio.Event] = {}
        self.names: dict[uuid.UUID, tuple[str, int]] = {}

    def message(self, tenant: str, n: int) -> Message:
        batch_id = uuid.uuid4()
        self.names[batch_id] = (tenant, n)
        self.finish[(tenant, n)] = asyncio.Event()
        return Message(orjson.dumps({"tenant": tenant, "batchId": str(batch_id)}))

    async def run(self, tenant: str, batch_id: uuid.UUID) -> str:
        name = self.names[batch_id]
        self.started.append(name)
        await self.finish[name].wait()
        return "COMPLETED"

    async def note_failure(self, *args) -> None:
        raise AssertionError("no batch fails here")


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_tenants_flood_does_not_hold_back_another_tenant():
    """Tenant A queues five batches, then tenant B one: B's starts as soon as a slot frees,
    before A's third, where first come first served would have made it wait for all of A's."""
    runner = BlockingRunner()
    handle = import_handler(runner, None, drop_dir="/nonexistent")  # type: ignore[arg-type]
    tasks = [asyncio.create_task(handle(runner.message("A", n))) for n in range(5)]
    await settle()
    tasks.append(asyncio.create_task(handle(runner.message("B", 0))))
    await settle()
    assert runner.started == [("A", 0), ("A", 1)]  # two slots
    runner.finish[("A", 0)].set()
    await settle()
    assert runner.started[-1] == ("B", 0)
    for event in runner.finish.values():
        event.set()
    await asyncio.gather(*tasks)
    assert runner.started == [("A", 0), ("A", 1), ("B", 0), ("A", 2), ("A", 3), ("A", 4)]


async def test_waiting_tenants_take_turns_and_keep_their_own_order():
    """One slot, three tenants waiting with several batches each: they alternate, each
    tenant's batches in the order they came; a waiter that gives up loses its turn only."""
    slots = FairSlots(1)
    order: list[str] = []
    release = asyncio.Event()

    async def batch(name: str) -> None:
        async with slots.slot(name[0]):
            order.append(name)
            if name == "A1":
                await release.wait()

    first = asyncio.create_task(batch("A1"))
    await settle()
    names = ["A2", "A3", "B1", "B2", "C1", "C2"]
    tasks = {name: asyncio.create_task(batch(name)) for name in names}
    await settle()
    tasks["C2"].cancel()
    await settle()
    release.set()
    await asyncio.gather(first, *(t for n, t in tasks.items() if n != "C2"))
    assert order == ["A1", "B1", "C1", "A2", "B2", "A3"]
    assert (slots.running("A"), slots.running("B"), slots.running("C")) == (0, 0, 0)
