"""Where a batch's bytes come from: its stored content in PostgreSQL (uploads and records, which
every worker replica can reach), or a file under IMPEX_DROP_DIR named by a queue drop.

Both are read in blocks, so memory does not grow with the file.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path, PurePath
from typing import Any

import asyncpg

from customer_service.imports import repository as batches
from impex_worker.imports.formats import FileUnreadable
from shared.db import tenant_transaction

# Stored pieces fetched per query (about 1 MiB each).
PIECES_PER_QUERY = 4
FILE_BLOCK_BYTES = 1024 * 1024


class PathRefused(ValueError):
    """A drop path that is not a file under IMPEX_DROP_DIR; the message says why."""


def resolve_drop_path(raw: str, drop_dir: str | os.PathLike[str]) -> Path:
    """The real path of `raw` (relative to the drop directory, or absolute inside it).
    `..` anywhere, absolute paths elsewhere and symbolic links leading out are refused."""
    if not raw or "\x00" in raw:
        raise PathRefused("The path is empty or not a valid path.")
    path = PurePath(raw)
    if ".." in path.parts:
        raise PathRefused(f"The path {raw!r} contains '..', which is not allowed.")
    root = Path(os.path.realpath(drop_dir))
    if path.is_absolute():
        roots = (root, Path(os.path.abspath(drop_dir)))
        if not any(Path(os.path.normpath(path)).is_relative_to(r) for r in roots):
            raise PathRefused(f"The path {raw!r} is outside IMPEX_DROP_DIR.")
    real = Path(os.path.realpath(root / path))
    if real == root or not real.is_relative_to(root):
        raise PathRefused(f"The path {raw!r} leads outside IMPEX_DROP_DIR (a symbolic link?).")
    return real


def blocks_of(
    pool: asyncpg.Pool, tenant: str, batch: Mapping[str, Any], drop_dir: str
) -> AsyncIterator[bytes]:
    """The batch's content as byte blocks."""
    if batch["source"] == "path":
        return _file_blocks(batch["path"], drop_dir)
    return _stored_blocks(pool, tenant, batch["id"])


async def _stored_blocks(
    pool: asyncpg.Pool, tenant: str, batch_id: uuid.UUID
) -> AsyncIterator[bytes]:
    seq = 0
    while True:
        async with tenant_transaction(pool, tenant) as conn:
            pieces = await batches.fetch_file_pieces(conn, tenant, batch_id, seq, PIECES_PER_QUERY)
        for piece in pieces:
            if piece["seq"] != seq:
                raise FileUnreadable("The stored file is incomplete (was the batch aborted?).")
            seq += 1
            yield piece["data"]
        if len(pieces) < PIECES_PER_QUERY:
            return


async def _file_blocks(raw_path: str, drop_dir: str) -> AsyncIterator[bytes]:
    try:
        path = resolve_drop_path(raw_path, drop_dir)
    except PathRefused as exc:
        raise FileUnreadable(str(exc)) from None
    try:
        # O_NOFOLLOW: the name checked above cannot be swapped for a link in between.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise FileUnreadable(f"The file {raw_path!r} cannot be read: {exc.strerror}.") from None
    with open(fd, "rb", buffering=0) as file:  # noqa: ASYNC230 (reads go to a thread below)
        while True:
            try:
                block = await asyncio.to_thread(file.read, FILE_BLOCK_BYTES)
            except OSError as exc:
                raise FileUnreadable(
                    f"The file {raw_path!r} cannot be read: {exc.strerror}."
                ) from None
            if not block:
                return
            yield block
