"""Preparing chunks off the event loop (building CSV records, the schema, each record's new
customer: plan.prepare_chunk), so preparing one chunk overlaps with writing the last.

In one thread it fills the time the event loop waits for PostgreSQL; worker processes
(`processes` > 0) would use other cores, but records and results cross in pickles, which cost
about as much as checking them with the schema's precompiled twin (see checks.py).
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime

from impex_worker.imports.checks import Checked
from impex_worker.imports.formats import Record
from impex_worker.imports.plan import prepare_chunk


class Validator:
    """`processes` > 0: that many worker processes; 0: one thread; < 0: inline (tests)."""

    def __init__(self, processes: int = 0) -> None:
        self._executor: Executor | None = None
        # Chunks worth submitting ahead: one per process, plus one being read.
        self.ahead = max(processes, 0) + 1
        if processes < 0:
            return
        if processes > 0:
            # spawn: children start clean, without the parent's sockets, threads or loop.
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(max_workers=processes, mp_context=context)
        else:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validate")

    async def check(self, records: list[Record], now: datetime) -> Checked:
        """The records validated, each valid one with the customer it would create at `now`
        (plan.prepare_chunk)."""
        if self._executor is None:
            return prepare_chunk(records, now=now)
        if isinstance(self._executor, ProcessPoolExecutor):
            for record in records:  # a CSV record's builder is a closure: no pickle
                record.built()
        loop = asyncio.get_running_loop()
        prepare = functools.partial(prepare_chunk, records, now=now)
        return await loop.run_in_executor(self._executor, prepare)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
