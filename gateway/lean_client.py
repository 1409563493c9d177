"""A small HTTP/1.1 keep-alive client for the gateway's bodyless requests (GET, HEAD, DELETE …).

Why not aiohttp's client for these: under load its per-request machinery (ClientRequest and
ClientResponse objects, the URL and header multidicts, the connector's bookkeeping, a
`sock_read` timer rescheduled on every chunk received, trace hooks) cost the gateway about as much
CPU as its own request handling, on a path whose whole job is to pass a few hundred bytes on.
This client writes the request line and headers as one buffer and keeps one deadline timer per
wait. Requests with a body (uploads, JSON writes) still go through aiohttp's client, which
streams them.

Responses are parsed by llhttp (`httptools`, as uvicorn's server does), a fresh parser per
response: status line, headers, Content-Length, chunked (decoded; the gateway re-frames it),
trailers, no body for 1xx, 204 and 304. What llhttp cannot be told through httptools is ours:
no body for HEAD, and the end of a body delimited by the close. A connection is reused only when
its response was read to the end, the server did not ask to close it and sent nothing past it.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Iterable

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

# Past this many unread body bytes the socket stops being read (a slow client of a large export
# must not make the gateway buffer it); reading resumes below a quarter of it.
_HIGH_WATER = 256 * 1024
# llhttp sets no bound on a response head; the services' heads are a few hundred bytes.
_MAX_HEAD = 64 * 1024
# Idempotent (RFC 9110 §9.2.2): sent again on a fresh connection when a reused one turns out to
# be closed before any byte of the answer came (the service closed it while idle). The methods
# aiohttp's client retries in the same case, so the gateway behaves as it did with it.
_RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "DELETE"})


class UpstreamConnectError(ConnectionError):
    """The service could not be reached (refused, unreachable, connect timeout)."""


class UpstreamDisconnected(ConnectionError):
    """The service closed the connection before the response was complete."""


class UpstreamProtocolError(ConnectionError):
    """The service's answer is not HTTP/1.x as llhttp reads it."""


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.response: LeanResponse | None = None  # the answer being read, if any
        self.eof = False
        self.closed = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.response is None:
            self.close()  # bytes nobody asked for: the connection is out of step
        else:
            self.response.feed(data)

    def eof_received(self) -> bool:
        self._ended()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._ended()

    def _ended(self) -> None:
        self.eof = True
        if self.response is not None:
            self.response.wake()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class LeanResponse:
    """One upstream response: status, headers as received, and its body read or streamed.
    Also the callbacks of its llhttp parser, which the connection feeds as bytes arrive."""

    __slots__ = (
        "_body",
        "_buffered",
        "_chunked",
        "_complete",
        "_connection",
        "_error",
        "_head_bytes",
        "_head_done",
        "_head_only",
        "_interim",
        "_keep_alive",
        "_loop",
        "_parser",
        "_paused",
        "_pool",
        "_read_timeout",
        "_released",
        "_waiter",
        "content_length",
        "headers",
        "status",
    )

    def __init__(
        self,
        connection: _Connection,
        pool: LeanPool,
        loop: asyncio.AbstractEventLoop,
        *,
        head_only: bool,
        read_timeout: float | None,
    ) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.content_length: int | None = None
        self._connection = connection
        self._pool = pool
        self._loop = loop
        self._head_only = head_only
        self._read_timeout = read_timeout
        self._parser = HttpResponseParser(self)
        self._body: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False
        self._chunked = False
        self._interim = False
        self._head_bytes = 0
        self._head_done = False
        self._complete = False
        self._keep_alive = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._released = False

    # -- fed by the connection, called back by llhttp --

    def feed(self, data: bytes) -> None:
        if self._error is None:
            try:
                self._parser.feed_data(data)
            except (HttpParserError, HttpParserUpgrade) as exc:
                self._error = UpstreamProtocolError(f"Malformed response: {exc}")
                self._keep_alive = False
        if not self._head_done and self._error is None:
            self._head_bytes += len(data)
            if self._head_bytes > _MAX_HEAD:
                self._error = UpstreamProtocolError("Response head too long.")
        if self._buffered > _HIGH_WATER and not self._paused:
            self._paused = True
            transport = self._connection.transport
            if transport is not None:
                transport.pause_reading()
        self.wake()

    def on_message_begin(self) -> None:
        if self._complete:
            self._keep_alive = False  # a second answer to one request: out of step

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._head_done:
            return  # a trailer: not passed on
        # Decoded as aiohttp's client decodes them: its server encodes them back the same way.
        self.headers.append(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        )
        lowered = name.lower()
        if lowered == b"content-length":
            self.content_length = int(value)  # llhttp has checked it is digits, and only one
        elif lowered == b"transfer-encoding":
            self._chunked = value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"

    def on_headers_complete(self) -> None:
        if self._head_done:
            return  # a second answer to one request (on_message_begin has noted it)
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            # Interim (100 Continue, 103 Early Hints): llhttp ends it here, the final one follows.
            self._interim = True
            self.headers = []
            self.content_length = None
            self._chunked = False
            return
        self.status = status
        self._head_done = True
        if self._chunked:
            self.content_length = None
        if self._head_only:
            # llhttp does not know the request was HEAD: it would wait for the announced body.
            self._complete = True
            self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if self._complete:
            self._keep_alive = False  # a body after a HEAD answer: out of step
            return
        self._body.append(body)
        self._buffered += len(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
        elif not self._complete:
            self._complete = True
            self._keep_alive = self._parser.should_keep_alive()

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the reader's side --

    async def _wait(self) -> None:
        """Until more of the answer (or the end) arrives; TimeoutError after `read_timeout` s
        without any byte."""
        if self._error is not None:
            raise self._error
        if self._connection.eof:
            if self._head_done and self.content_length is None and not self._chunked:
                self._complete = True  # a body delimited by the close
                return
            raise UpstreamDisconnected("The connection closed before the response was complete.")
        waiter = self._loop.create_future()
        self._waiter = waiter
        timeout = self._read_timeout
        timer = self._loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def read_head(self) -> None:
        while not self._head_done:
            await self._wait()

    async def read(self) -> bytes:
        """The whole body (the caller has checked it is small enough)."""
        if self._complete and len(self._body) <= 1:
            # The usual case: the body came with the head; no generator needed.
            body = self._body.pop() if self._body else b""
            self._buffered = 0
            self._drained()
            return body
        return b"".join([chunk async for chunk in self.iter_chunks()])

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        # Passed on as it arrives: a body larger than the read buffer is never held whole.
        body = self._body
        while True:
            while body:
                chunk = body.popleft()
                self._buffered -= len(chunk)
                self._drained()
                yield chunk
            if self._complete:
                return
            await self._wait()

    def _drained(self) -> None:
        """Called after taking body off the queue: reads again once it has drained."""
        if self._paused and self._buffered < _HIGH_WATER // 4:
            self._paused = False
            transport = self._connection.transport
            if transport is not None:
                transport.resume_reading()

    def release(self) -> None:
        """Back to the pool if read to the end and reusable, else closed. Idempotent."""
        if self._released:
            return
        self._released = True
        connection = self._connection
        connection.response = None
        reusable = (
            self._complete
            and self._keep_alive
            and not self._body
            and self._error is None
            and not connection.eof
        )
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
                _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except (OSError, TimeoutError) as exc:
            raise UpstreamConnectError(str(exc)) from exc
        return connection

    async def _exchange(self, connection: _Connection, method: str, head: bytes) -> LeanResponse:
        response = LeanResponse(
            connection,
            self,
            asyncio.get_running_loop(),
            head_only=method == "HEAD",
            read_timeout=self._read_timeout,
        )
        connection.response = response
        try:
            assert connection.transport is not None
            connection.transport.write(head)
            await response.read_head()
        except BaseException:
            connection.response = None
            connection.close()
            raise
        return response

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
