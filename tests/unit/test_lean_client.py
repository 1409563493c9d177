"""The gateway's lean upstream client against a scripted HTTP/1.1 server: framing, keep-alive,
the retry of a safe request on a connection the server closed, timeouts and failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from gateway.lean_client import (
    LeanPool,
    UpstreamConnectError,
    UpstreamDisconnected,
    UpstreamProtocolError,
)

# A reply is raw bytes (b"": no answer at all), or None to close the connection without one.
Script = Callable[[int, bytes], bytes | None]


class ScriptedServer:
    """Answers each request head with `script(number of the request on its connection, head)`."""

    def __init__(self, script: Script, close_after_reply: bool) -> None:
        self.script = script
        self.close_after_reply = close_after_reply
        self.connections = 0
        self.heads: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
                    return  # the client went away, or the test is over
                self.heads.append(head)
                served += 1
                reply = self.script(served, head)
                if reply is None:
                    return
                writer.write(reply)
                await writer.drain()
                if self.close_after_reply:
                    return
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], asyncio.Future]]:
    servers: list[asyncio.Server] = []
    pools: list[LeanPool] = []

    async def start(
        script: Script, close: bool = False, keepalive: float = 30
    ) -> tuple[ScriptedServer, LeanPool]:
        scripted = ScriptedServer(script, close)
        server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        pool = LeanPool(
            "127.0.0.1",
            port,
            limit=8,
            keepalive_timeout=keepalive,
            connect_timeout=1,
            read_timeout=0.5,
        )
        pools.append(pool)
        return scripted, pool

    yield start
    for pool in pools:
        pool.close()
    for server in servers:
        server.close()


def ok(body: bytes = b"hello", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


async def fetch(pool: LeanPool, method: str = "GET", target: str = "/x") -> tuple[int, bytes]:
    response = await pool.request(method, target, [("X-Request-ID", "r1")])
    try:
        return response.status, await response.read()
    finally:
        response.release()


async def test_request_head_and_a_sized_body(serve):
    server, pool = await serve(
        lambda n, head: ok(b"hello", 'Content-Disposition: filename="ü.csv"\r\n')
    )
    response = await pool.request("GET", "/api/v2/c?a=%40", [("X-Request-ID", "r1")])
    assert (response.status, response.content_length) == (200, 5)
    assert ("Content-Type", "text/plain") in response.headers
    assert ("Content-Disposition", 'filename="ü.csv"') in response.headers  # UTF-8, as sent
    assert await response.read() == b"hello"
    response.release()
    head = server.heads[0].decode()
    assert head.startswith("GET /api/v2/c?a=%40 HTTP/1.1\r\n")  # the target as given
    assert f"Host: 127.0.0.1:{pool.port}\r\n" in head and "X-Request-ID: r1\r\n" in head


async def test_connections_are_kept_alive_and_reused(serve):
    server, pool = await serve(lambda n, head: ok(b"n%d" % n))
    assert [await fetch(pool) for _ in range(3)] == [(200, b"n1"), (200, b"n2"), (200, b"n3")]
    assert server.connections == 1


async def test_connection_close_is_honoured(serve):
    server, pool = await serve(lambda n, head: ok(extra="Connection: close\r\n"))
    await fetch(pool)
    await fetch(pool)
    assert server.connections == 2


async def test_a_chunked_body_is_decoded_and_streamed_past_the_read_buffer(serve):
    big = bytes(range(256)) * 4096  # 1 MiB in one chunk: more than the read buffer holds
    chunked = b"%x;ext=1\r\n" % len(big) + big + b"\r\n" + b"3\r\nend\r\n0\r\nTrailer: x\r\n\r\n"
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
    server, pool = await serve(lambda n, head: reply)
    response = await pool.request("GET", "/export", [])
    assert response.content_length is None
    received = [chunk async for chunk in response.iter_chunks()]
    response.release()
    assert b"".join(received) == big + b"end"
    assert max(len(chunk) for chunk in received) < len(big)  # passed on in pieces
    assert await fetch(pool) == (200, b"".join([big, b"end"]))
    assert server.connections == 1  # read to the end: reusable


async def test_a_body_delimited_by_the_close(serve):
    server, pool = await serve(lambda n, head: b"HTTP/1.1 200 OK\r\n\r\nall of it", close=True)
    assert await fetch(pool) == (200, b"all of it")
    await fetch(pool)
    assert server.connections == 2


async def test_head_204_and_interim_responses_have_no_body(serve):
    def script(n: int, head: bytes) -> bytes:
        if head.startswith(b"HEAD"):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
        return b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"

    server, pool = await serve(script)
    response = await pool.request("HEAD", "/x", [])
    assert (response.status, response.content_length, await response.read()) == (200, 1234, b"")
    response.release()
    assert await fetch(pool, "DELETE") == (204, b"")
    assert await fetch(pool) == (204, b"")
    assert server.connections == 1


async def test_a_safe_request_on_a_connection_closed_while_idle_is_sent_again(serve):
    """The server closes a kept-alive connection instead of answering its second request (as
    when its keep-alive timeout strikes): a GET goes again on a fresh connection, a DELETE
    is reported, never replayed."""
    server, pool = await serve(lambda n, head: ok() if n == 1 else None)
    assert await fetch(pool) == (200, b"hello")
    assert await fetch(pool) == (200, b"hello")
    assert server.connections == 2
    assert await fetch(pool, "DELETE") == (200, b"hello")
    assert server.connections == 3
    with pytest.raises(UpstreamDisconnected):
        await fetch(pool, "POST")
    assert sum(head.startswith(b"POST") for head in server.heads) == 1


async def test_a_server_that_does_not_answer_times_out(serve):
    partial = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12"
    _server, pool = await serve(lambda n, head: b"" if b"/slow" in head else partial)
    with pytest.raises(TimeoutError):
        await pool.request("GET", "/slow", [])  # no head at all
    response = await pool.request("GET", "/x", [])
    with pytest.raises(TimeoutError):
        await response.read()  # 2 of 10 bytes, then nothing
    response.release()


async def test_nothing_listening_is_a_connect_error_at_once():
    pool = LeanPool("127.0.0.1", 9, limit=1, keepalive_timeout=1, connect_timeout=1, read_timeout=1)
    with pytest.raises(UpstreamConnectError):
        await pool.request("GET", "/", [])
    with pytest.raises(UpstreamConnectError):  # the failed attempt gave its slot back
        await pool.request("GET", "/", [])


async def test_garbage_is_a_protocol_error(serve):
    _server, pool = await serve(lambda n, head: b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(UpstreamProtocolError):
        await fetch(pool)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",  # status not three digits
        b"HTTP/1.1 200 OK\r\nNo colon in this line\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (70 * 1024),  # a head with no end in sight
    ],
)
async def test_a_malformed_head_is_a_protocol_error(serve, head):
    server, pool = await serve(lambda n, h: head)
    with pytest.raises(UpstreamProtocolError):
        await fetch(pool)
    with pytest.raises(UpstreamProtocolError):  # the connection was not kept
        await fetch(pool)
    assert server.connections == 2


async def test_a_bad_chunk_size_is_a_protocol_error_and_the_connection_is_dropped(serve):
    reply = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nxyz\r\n0\r\n\r\n"
    )
    sent: list[bytes] = []
    server, pool = await serve(lambda n, head: ok() if sent else sent.append(reply) or reply)
    response = await pool.request("GET", "/export", [])
    assert response.status == 200  # the head was fine
    with pytest.raises(UpstreamProtocolError):
        await response.read()
    response.release()
    assert await fetch(pool) == (200, b"hello")
    assert server.connections == 2


async def test_bytes_past_the_end_of_an_answer_make_its_connection_unusable(serve):
    """A second answer after the first (or a body after a HEAD answer) means the connection is
    out of step with its requests: it is closed, not reused."""
    server, pool = await serve(lambda n, head: ok(b"one") + b"HTTP/1.1 204 No Content\r\n\r\n")
    assert await fetch(pool) == (200, b"one")
    assert await fetch(pool) == (200, b"one")
    assert server.connections == 2


def test_a_header_value_with_a_line_break_is_refused():
    pool = LeanPool("127.0.0.1", 9, limit=1, keepalive_timeout=1, connect_timeout=1, read_timeout=1)
    with pytest.raises(ValueError):
        asyncio.run(pool.request("GET", "/", [("X-A", "b\r\nX-Injected: 1")]))


async def test_idle_connections_past_the_keepalive_are_not_reused(serve):
    server, pool = await serve(lambda n, head: ok(), keepalive=-1)  # always too old
    await fetch(pool)
    await fetch(pool)
    assert server.connections == 2
