"""Preparing chunks off the event loop (building CSV records, the schema, each record's new
customer: plan.prepare_chunk), so preparing one chunk overlaps with writing the last.

In one thread it fills the time the event loop waits for PostgreSQL. Worker processes were
measured and dropped: records and results cross in pickles, which cost about as much as checking
them with the schema's precompiled twin (see checks.py), for twice the memory.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from impex_worker.imports.checks import Checked
from impex_worker.imports.formats import Record
from impex_worker.imports.plan import prepare_chunk


class Validator:
    """Prepares chunks in one thread beside the event loop; `inline`: on the caller's loop
    (tests that want a deterministic order)."""

    def __init__(self, *, inline: bool = False) -> None:
        self._executor = (
            None if inline else ThreadPoolExecutor(max_workers=1, thread_name_prefix="validate")
        )
        # Chunks worth submitting ahead: the one being prepared while the last is written.
        self.ahead = 1

    async def check(self, records: list[Record], now: datetime) -> Checked:
        """The records validated, each valid one with the customer it would create at `now`
        (plan.prepare_chunk)."""
        if self._executor is None:
            return prepare_chunk(records, now=now)
        loop = asyncio.get_running_loop()
        prepare = functools.partial(prepare_chunk, records, now=now)
        return await loop.run_in_executor(self._executor, prepare)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
