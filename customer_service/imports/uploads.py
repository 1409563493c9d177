"""Receiving an import upload without holding anything another tenant needs.

A body arrives at the client's pace, and a client may stall. So the body is spooled to a
temporary file first, and only once it is complete does the upload take a database connection
(and its batch's row lock) to store it, at the database's pace. A client that sends nothing for
UPLOAD_READ_TIMEOUT_SECONDS gets 408, and one tenant receives at most
UPLOAD_CONCURRENCY_PER_TENANT uploads at once in this process (429 beyond): stalled uploads cost
their tenant its own upload slots and a little disk, never another tenant's requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import IO

from aiohttp import StreamReader

from customer_service import metrics
from shared.errors import InvalidInput, PayloadTooLarge, RequestTimeout, TooManyRequests

# The temporary file is written and read in pieces of this size (in a thread: a slow disk must
# not stall the event loop), so an upload holds about this much memory whatever its size.
SPOOL_PIECE_BYTES = 1024 * 1024
# What a 429 suggests: an upload of a few hundred MB takes a while; sooner is unlikely to help.
RETRY_AFTER_SECONDS = 10


class UploadSlots:
    """How many uploads each tenant runs at once, bounded by `per_tenant`."""

    def __init__(self, per_tenant: int) -> None:
        self._per_tenant = per_tenant
        self._running: Counter[str] = Counter()

    @contextlib.contextmanager
    def hold(self, tenant: str) -> Iterator[None]:
        """One of the tenant's slots for the block; none free is a 429 with Retry-After."""
        if self._running[tenant] >= self._per_tenant:
            raise TooManyRequests(
                f"At most {self._per_tenant} uploads of a tenant are received at once; "
                "retry when one has finished.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self._running[tenant] += 1
        metrics.IMPORT_UPLOADS_IN_PROGRESS.inc()
        try:
            yield
        finally:
            metrics.IMPORT_UPLOADS_IN_PROGRESS.dec()
            self._running[tenant] -= 1
            if not self._running[tenant]:
                del self._running[tenant]


class SpooledBody:
    """A complete request body in a temporary file."""

    def __init__(self, file: IO[bytes], size: int) -> None:
        self._file = file
        self.size = size

    async def pieces(self) -> AsyncIterator[bytes]:
        """The body from its start, in pieces of SPOOL_PIECE_BYTES."""
        await asyncio.to_thread(self._file.seek, 0)
        while piece := await asyncio.to_thread(self._file.read, SPOOL_PIECE_BYTES):
            yield piece


@contextlib.asynccontextmanager
async def spooled(
    stream: StreamReader, *, idle_timeout: float, limit: int
) -> AsyncIterator[SpooledBody]:
    """The whole body of `stream`, spooled to a temporary file (gone when the block ends, or
    with the process: it is unlinked at once). 408 when the client sends nothing for
    `idle_timeout` seconds, 413 past `limit` bytes, 400 when it is empty."""
    with tempfile.TemporaryFile() as file:
        size, pending = 0, bytearray()
        while True:
            try:
                async with asyncio.timeout(idle_timeout):
                    data = await stream.readany()
            except TimeoutError:
                raise RequestTimeout(
                    f"The upload sent nothing for {idle_timeout:g} seconds."
                ) from None
            if not data:
                break
            size += len(data)
            if size > limit:
                raise PayloadTooLarge(f"The file exceeds {limit} bytes.")
            pending += data
            if len(pending) >= SPOOL_PIECE_BYTES:
                await asyncio.to_thread(file.write, pending)
                pending.clear()
        if pending:
            await asyncio.to_thread(file.write, pending)
        if size == 0:
            raise InvalidInput("The file is empty.", errors={"_body": ["Empty file."]})
        yield SpooledBody(file, size)
