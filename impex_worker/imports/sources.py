"""Where a batch's bytes come from: its stored content in PostgreSQL (uploads and records, which
every worker replica can reach), or a file a queue drop names in its tenant's own folder,
IMPEX_DROP_DIR/<tenant>/ (a drop for one tenant cannot name another tenant's file).

Both are read in blocks, so memory does not grow with the file.
"""

from __future__ import annotations

import asyncio
import os
import stat
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path, PurePath
from typing import Any

import asyncpg

from impex_worker.imports.formats import FileUnreadable
from shared.db import tenant_transaction
from shared.imports import batches

# Stored pieces fetched per query (about 1 MiB each).
PIECES_PER_QUERY = 4
FILE_BLOCK_BYTES = 1024 * 1024


class PathRefused(ValueError):
    """A drop path that is not a file in its tenant's folder; the message says why."""


def tenant_drop_dir(drop_dir: str | os.PathLike[str], tenant: str) -> str:
    """IMPEX_DROP_DIR/<tenant>: the only folder a drop for `tenant` may read from. Tenant ids
    are `[A-Za-z0-9_-]` (checked when the message is parsed), so this is one plain step down."""
    return os.path.join(drop_dir, tenant)


def resolve_drop_path(raw: str, drop_dir: str | os.PathLike[str], tenant: str) -> Path:
    """The real path of `raw` (relative to the tenant's folder under the drop directory, or
    absolute inside that folder). `..` anywhere, absolute paths elsewhere (another tenant's
    folder included) and symbolic links leading out are refused."""
    if not raw or "\x00" in raw:
        raise PathRefused("The path is empty or not a valid path.")
    path = PurePath(raw)
    if ".." in path.parts:
        raise PathRefused(f"The path {raw!r} contains '..', which is not allowed.")
    folder = tenant_drop_dir(drop_dir, tenant)
    where = f"IMPEX_DROP_DIR/{tenant}"
    root = Path(os.path.realpath(folder))
    if path.is_absolute():
        roots = (root, Path(os.path.abspath(folder)))
        if not any(Path(os.path.normpath(path)).is_relative_to(r) for r in roots):
            raise PathRefused(f"The path {raw!r} is outside {where}, the tenant's drop folder.")
    real = Path(os.path.realpath(root / path))
    if real == root or not real.is_relative_to(root):
        raise PathRefused(f"The path {raw!r} leads outside {where} (a symbolic link?).")
    return real


def blocks_of(
    pool: asyncpg.Pool, tenant: str, batch: Mapping[str, Any], drop_dir: str
) -> AsyncIterator[bytes]:
    """The batch's content as byte blocks."""
    if batch["source"] == "path":
        return _file_blocks(batch["path"], drop_dir, tenant)
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


async def _file_blocks(raw_path: str, drop_dir: str, tenant: str) -> AsyncIterator[bytes]:
    try:
        path = resolve_drop_path(raw_path, drop_dir, tenant)
    except PathRefused as exc:
        raise FileUnreadable(str(exc)) from None
    fd = open_regular_file(path, raw_path)
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


def open_regular_file(path: Path, raw_path: str) -> int:
    """A read-only descriptor of `path`, which must be a regular file. O_NONBLOCK: opening a
    FIFO (or a device) returns at once instead of waiting for a writer on the event loop; it
    is then refused by what fstat says, before any read. O_NOFOLLOW: the name checked by
    resolve_drop_path cannot be swapped for a link in between."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise FileUnreadable(f"The file {raw_path!r} cannot be read: {exc.strerror}.") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FileUnreadable(f"The path {raw_path!r} is not a regular file.")
    return fd
