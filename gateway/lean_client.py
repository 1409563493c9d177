"""A small HTTP/1.1 keep-alive client for the gateway's bodyless requests (GET, HEAD, DELETE …).

Why not aiohttp's client for these: under load its per-request machinery (ClientRequest and
ClientResponse objects, the URL and header multidicts, the connector's bookkeeping, a
`sock_read` timer rescheduled on every chunk received, trace hooks) cost the gateway about as much
CPU as its own request handling, on a path whose whole job is to pass a few hundred bytes on.
This client writes the request line and headers as one buffer, reads the response head with one
split, and keeps one deadline timer per wait. Requests with a body (uploads, JSON writes) still
go through aiohttp's client, which streams them.

Response bodies: Content-Length, chunked (decoded; the gateway re-frames it) or up to the close;
none for HEAD, 1xx, 204 and 304. A connection is reused only when its response was read to the
end under Content-Length or chunked framing and the server did not ask to close it.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Iterable

# Past this many unread bytes the socket stops being read (a slow client of a large export must
# not make the gateway buffer it); reading resumes below a quarter of it.
_HIGH_WATER = 256 * 1024
_MAX_HEAD = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
# Idempotent (RFC 9110 §9.2.2): sent again on a fresh connection when a reused one turns out to
# be closed before any byte of the answer came (the service closed it while idle). The methods
# aiohttp's client retries in the same case, so the gateway behaves as it did with it.
_RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "DELETE"})


class UpstreamConnectError(ConnectionError):
    """The service could not be reached (refused, unreachable, connect timeout)."""


class UpstreamDisconnected(ConnectionError):
    """The service closed the connection before the response was complete."""


class UpstreamProtocolError(ConnectionError):
    """The service's answer is not HTTP/1.x as this client reads it."""


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.closed = False
        self.idle_since = 0.0
        self.used = False
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self._paused and len(self.buffer) > _HIGH_WATER and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def consumed(self) -> None:
        """Called after taking bytes off `buffer`: reads again once it has drained."""
        if self._paused and len(self.buffer) < _HIGH_WATER // 4 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    async def wait_data(self, timeout: float | None) -> None:
        """Until more bytes (or the end) arrive; TimeoutError after `timeout` s without any."""
        if self.eof:
            raise UpstreamDisconnected("The connection closed before the response was complete.")
        waiter = self._loop.create_future()
        self._waiter = waiter
        timer = self._loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class LeanResponse:
    """One upstream response: status, headers as received, and its body read or streamed."""

    __slots__ = (
        "_chunked",
        "_connection",
        "_done",
        "_keep_alive",
        "_pool",
        "_read_timeout",
        "_released",
        "_remaining",
        "content_length",
        "headers",
        "status",
    )

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]],
        content_length: int | None,
        body_length: int | None,
        connection: _Connection,
        pool: LeanPool,
        *,
        chunked: bool,
        keep_alive: bool,
        read_timeout: float | None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.content_length = content_length
        self._connection = connection
        self._pool = pool
        self._chunked = chunked
        self._remaining = body_length
        self._keep_alive = keep_alive
        self._read_timeout = read_timeout
        self._done = body_length == 0 and not chunked
        self._released = False

    async def read(self) -> bytes:
        """The whole body (the caller has checked it is small enough)."""
        remaining = self._remaining
        buffer = self._connection.buffer
        if not self._chunked and remaining is not None and len(buffer) >= remaining:
            # The usual case: the body came with the head; no generator needed.
            body = bytes(buffer[:remaining])
            del buffer[:remaining]
            self._connection.consumed()
            self._remaining = 0
            self._done = True
            return body
        return b"".join([chunk async for chunk in self.iter_chunks()])

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        if self._done:
            return
        if self._chunked:
            async for chunk in self._chunked_body():
                yield chunk
        else:
            async for chunk in self._plain_body():
                yield chunk
        self._done = True

    async def _plain_body(self) -> AsyncIterator[bytes]:
        connection = self._connection
        buffer = connection.buffer
        while self._remaining is None or self._remaining > 0:
            if not buffer:
                if connection.eof and self._remaining is None:
                    return  # delimited by the close
                await connection.wait_data(self._read_timeout)
                continue
            take = len(buffer) if self._remaining is None else min(self._remaining, len(buffer))
            chunk = bytes(buffer[:take])
            del buffer[:take]
            connection.consumed()
            if self._remaining is not None:
                self._remaining -= take
            yield chunk

    async def _chunked_body(self) -> AsyncIterator[bytes]:
        connection = self._connection
        buffer = connection.buffer
        while True:
            line = await self._line()
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise UpstreamProtocolError("Malformed chunk size.") from None
            if size == 0:
                while await self._line():  # trailers, up to the empty line
                    pass
                return
            # Passed on as it arrives: a chunk larger than the read buffer is never held whole.
            while size > 0:
                if not buffer:
                    await connection.wait_data(self._read_timeout)
                    continue
                take = min(size, len(buffer))
                chunk = bytes(buffer[:take])
                del buffer[:take]
                connection.consumed()
                size -= take
                yield chunk
            if await self._line():
                raise UpstreamProtocolError("Malformed chunk.")

    async def _line(self) -> bytes:
        connection = self._connection
        buffer = connection.buffer
        while True:
            end = buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 2]
                return line
            if len(buffer) > _MAX_HEAD:
                raise UpstreamProtocolError("Chunk header too long.")
            await connection.wait_data(self._read_timeout)

    def release(self) -> None:
        """Back to the pool if read to the end and reusable, else closed. Idempotent."""
        if self._released:
            return
        self._released = True
        connection = self._connection
        reusable = self._done and self._keep_alive and not connection.eof and not connection.buffer
        self._pool.give_back(connection, reusable=reusable)


class LeanPool:
    """Keep-alive connections to one service (host and port), at most `limit` in use."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        limit: int,
        keepalive_timeout: float,
        connect_timeout: float | None,
        read_timeout: float | None,
    ) -> None:
        self.host = host
        self.port = port
        self._host_header = f"Host: {host}:{port}\r\n".encode()
        self._idle: collections.deque[_Connection] = collections.deque()
        self._slots = asyncio.Semaphore(limit)
        self._keepalive = keepalive_timeout
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._closed = False

    async def request(
        self, method: str, target: str, headers: Iterable[tuple[str, str]]
    ) -> LeanResponse:
        """Send a bodyless request and read the response head; the body is read from the
        returned response, which must be `release()`d. `target` is the path and query, as they
        go on the request line (already encoded)."""
        head = self._head(method, target, headers)
        await self._slots.acquire()  # given back by the response's release()
        try:
            connection = self._reusable()
            if connection is not None:
                try:
                    return await self._exchange(connection, method, head)
                except UpstreamDisconnected:
                    # An idle connection the service closed as we reused it: nothing of the
                    # answer came, so a safe method is sent again on a fresh connection.
                    if method not in _RETRYABLE_METHODS:
                        raise
            return await self._exchange(await self._connect(), method, head)
        except BaseException:
            self._slots.release()
            raise

    def _head(self, method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
        parts = [f"{method} {target} HTTP/1.1\r\n".encode(), self._host_header]
        for name, value in headers:
            line = f"{name}: {value}\r\n"
            if "\n" in line[:-2] or "\r" in line[:-2]:
                raise ValueError("A header holds a line break.")
            parts.append(line.encode("utf-8", "surrogateescape"))
        parts.append(b"\r\n")
        return b"".join(parts)

    def _reusable(self) -> _Connection | None:
        now = time.monotonic()
        idle = self._idle
        while idle:
            connection = idle.pop()  # the most recently used: least likely to be closed
            if connection.closed or connection.eof or now - connection.idle_since > self._keepalive:
                connection.close()
                continue
            return connection
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop), self.host, self.port
                )
        except (OSError, TimeoutError) as exc:
            raise UpstreamConnectError(str(exc)) from exc
        return connection

    async def _exchange(self, connection: _Connection, method: str, head: bytes) -> LeanResponse:
        try:
            assert connection.transport is not None
            connection.transport.write(head)
            return await self._read_head(connection, method)
        except BaseException:
            connection.close()
            raise

    async def _read_head(self, connection: _Connection, method: str) -> LeanResponse:
        buffer = connection.buffer
        while True:
            end = buffer.find(b"\r\n\r\n")
            while end < 0:
                if len(buffer) > _MAX_HEAD:
                    raise UpstreamProtocolError("Response head too long.")
                await connection.wait_data(self._read_timeout)
                end = buffer.find(b"\r\n\r\n")
            # As aiohttp's client decodes them: its server encodes them back the same way.
            head = bytes(buffer[:end]).decode("utf-8", "surrogateescape")
            del buffer[: end + 4]
            lines = head.split("\r\n")
            version, _, rest = lines[0].partition(" ")
            try:
                status = int(rest[:3])
            except ValueError:
                raise UpstreamProtocolError("Malformed status line.") from None
            if not version.startswith("HTTP/1.") or len(rest) < 3:
                raise UpstreamProtocolError("Malformed status line.")
            if 100 <= status < 200:
                continue  # interim (100 Continue, 103 Early Hints): the final one follows
            break
        headers: list[tuple[str, str]] = []
        content_length: int | None = None
        chunked = False
        keep_alive = version == "HTTP/1.1"
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise UpstreamProtocolError("Malformed header line.")
            value = value.strip(" \t")
            lowered = name.lower()
            if lowered == "content-length":
                if not value.isdigit() or (
                    content_length is not None and int(value) != content_length
                ):
                    raise UpstreamProtocolError("Malformed Content-Length.")
                content_length = int(value)
            elif lowered == "transfer-encoding":
                chunked = value.lower().rsplit(",", 1)[-1].strip() == "chunked"
                if not chunked:
                    keep_alive = False  # another coding last: delimited by the close
            elif lowered == "connection":
                tokens = {token.strip().lower() for token in value.split(",")}
                if "close" in tokens:
                    keep_alive = False
                elif "keep-alive" in tokens and version == "HTTP/1.0":
                    keep_alive = True
            headers.append((name, value))
        if chunked:
            content_length = None  # RFC 9112 §6.3: Transfer-Encoding overrides it
        if method == "HEAD" or status in _NO_BODY_STATUSES:
            body_length: int | None = 0
            chunked = False
        else:
            body_length = content_length
            if body_length is None and not chunked:
                keep_alive = False  # read to the close
        return LeanResponse(
            status,
            headers,
            content_length,
            body_length,
            connection,
            self,
            chunked=chunked,
            keep_alive=keep_alive,
            read_timeout=self._read_timeout,
        )

    def give_back(self, connection: _Connection, *, reusable: bool) -> None:
        self._slots.release()
        if not reusable or self._closed:
            connection.close()
            return
        now = connection.idle_since = time.monotonic()
        idle = self._idle
        # Reuse takes the newest, so the oldest would linger: drop those closed or past their time.
        while idle and (idle[0].closed or now - idle[0].idle_since > self._keepalive):
            idle.popleft().close()
        idle.append(connection)

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()
