"""The floors bench_cost measures the gateway's hop against: a proxy in front of customer_service
doing nothing but forwarding, in two kinds.

  pipe   bytes copied both ways between a client connection and one upstream connection of its
         own (uvloop protocols, no HTTP parsing): what any proxy hop costs at the least, in
         Python or not — four socket operations and the wake-ups between them.
  proxy  aiohttp's server with one catch-all handler that sends the request on (method, path,
         headers) over the gateway's lean keep-alive client and answers with what came back:
         the gateway's own stack with nothing of the gateway's own work (no token check, rate
         limit, request id, access line, metrics, header rules, route label, middlewares).

    python -m bench.bare_proxy --kind pipe --port 18210 --upstream 127.0.0.1:18201
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

import uvloop
from aiohttp import web

from gateway.lean_client import LeanPool

LEAN_POOL = web.AppKey("lean_pool", LeanPool)
# What a proxy must not pass on (RFC 9110 §7.6.1) plus what aiohttp sets on its own answer.
_DROPPED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


class _UpstreamSide(asyncio.Protocol):
    def __init__(self, client: asyncio.Transport) -> None:
        self._client = client

    def data_received(self, data: bytes) -> None:
        self._client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._client.close()


class _ClientSide(asyncio.Protocol):
    """One client connection: its bytes go to an upstream connection opened for it (held until
    that connection is up), the upstream's bytes come back."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._address = upstream
        self._upstream: asyncio.Transport | None = None
        self._early: list[bytes] = []
        self._client_gone = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        # Held so the task is not collected before it has run.
        self._opening = asyncio.ensure_future(self._open())

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            upstream, _ = await loop.create_connection(
                lambda: _UpstreamSide(self._transport), *self._address
            )
        except OSError:
            self._transport.close()
            return
        if self._client_gone:  # it left while this connection was being opened
            upstream.close()
            return
        for data in self._early:
            upstream.write(data)
        self._early.clear()
        self._upstream = upstream

    def data_received(self, data: bytes) -> None:
        if self._upstream is None:
            self._early.append(data)
        else:
            self._upstream.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._client_gone = True
        if self._upstream is not None:
            self._upstream.close()


async def _forward(request: web.Request) -> web.Response:
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROPPED]
    upstream = await request.app[LEAN_POOL].request(request.method, request.raw_path, headers)
    try:
        body = await upstream.read()
        answer = [(k, v) for k, v in upstream.headers if k.lower() not in _DROPPED]
        return web.Response(status=upstream.status, headers=answer, body=body)
    finally:
        upstream.release()


async def _serve(kind: str, port: int, host: str, upstream_port: int) -> None:
    loop = asyncio.get_running_loop()
    if kind == "pipe":
        server = await loop.create_server(
            lambda: _ClientSide((host, upstream_port)), "127.0.0.1", port
        )
        async with server:
            await server.serve_forever()
        return
    app = web.Application()
    app[LEAN_POOL] = LeanPool(
        host, upstream_port, limit=512, keepalive_timeout=30.0, connect_timeout=5.0,
        read_timeout=30.0,
    )  # fmt: skip
    app.router.add_route("GET", "/{path:.*}", _forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("pipe", "proxy"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="host:port of customer_service")
    args = parser.parse_args()
    host, _, upstream_port = args.upstream.rpartition(":")
    uvloop.run(_serve(args.kind, args.port, host, int(upstream_port)))


if __name__ == "__main__":
    main()
