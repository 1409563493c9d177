"""Forwarding one request upstream over a pooled keep-alive client, streaming both bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from gateway.lean_client import LeanPool, UpstreamConnectError, UpstreamDisconnected
from gateway.upstreams import Target, public_location
from shared.app_keys import SETTINGS
from shared.errors import GatewayTimeout, PayloadTooLarge, Unavailable
from shared.web import JSON_BODY_LIMIT, REQUEST_ID_HEADER, REQUEST_ID_KEY, client_address

# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by this gateway only; whatever a client sends under these names is dropped.
_GATEWAY_OWNED = frozenset(
    {"host", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip"}
)
UPLOAD_BODY_LIMIT = 1024 * 1024 * 1024
_STREAM_CHUNK = 64 * 1024
# Responses up to this size are read whole: one write is cheaper than a chunked stream.
_BUFFER_RESPONSE_LIMIT = 256 * 1024


def is_upload(upstream_path: str) -> bool:
    """File uploads stream up to 1 GiB; every other body is JSON capped at 1 MiB."""
    return upstream_path.startswith("/api/import/batch/") and upstream_path.endswith("/file")


def _upstream_headers(request: web.Request) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    connection_tokens = {
        token.strip().lower() for token in request.headers.get("Connection", "").split(",")
    }
    for name, value in request.headers.items():
        lowered = name.lower()
        if lowered in HOP_BY_HOP or lowered in _GATEWAY_OWNED or lowered in connection_tokens:
            continue
        headers.add(name, value)
    headers[REQUEST_ID_HEADER] = request[REQUEST_ID_KEY]
    # One hop: the client as this gateway determined it (its peer, or what a trusted proxy in
    # front of it forwarded). Upstreams believe it because the gateway is a trusted proxy to them.
    headers["X-Forwarded-For"] = client_address(request, request.app[SETTINGS].trusted_proxy_cidrs)
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    return headers


class CappedBody:
    """A chunked request body streamed upstream, cut off once it exceeds `limit` bytes (a body
    with Content-Length is refused before anything is sent)."""

    def __init__(self, stream: aiohttp.StreamReader, limit: int) -> None:
        self._stream = stream
        self.limit = limit
        self.exceeded = False

    async def chunks(self) -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in self._stream.iter_any():
            sent += len(chunk)
            if sent > self.limit:
                self.exceeded = True
                raise _too_large(self.limit)
            yield chunk


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body exceeds {limit} bytes.")


def _request_body(request: web.Request, target: Target) -> CappedBody | aiohttp.StreamReader | None:
    if not request.body_exists:
        return None
    limit = UPLOAD_BODY_LIMIT if is_upload(target.upstream_path) else JSON_BODY_LIMIT
    length = request.content_length
    if length is None:
        return CappedBody(request.content, limit)
    if length > limit:
        raise _too_large(limit)
    return request.content


async def forward(
    request: web.Request,
    target: Target,
    session: aiohttp.ClientSession,
    extra_headers: dict[str, str] | None = None,
    pool: LeanPool | None = None,
) -> web.StreamResponse:
    """Proxy `request` to `target`; an unreachable upstream is a quick 503, a slow one a 504.
    A request without a body goes over `pool` (the lean client) when there is one; a body is
    streamed up by aiohttp's client."""
    body = _request_body(request, target)
    # Passed on byte for byte: re-quoting would turn the SDK's '%40' into '%2540'.
    query = request.rel_url.raw_query_string
    if body is None and pool is not None:
        return await _forward_lean(request, target, pool, query, extra_headers or {})
    url = URL(f"{target.url}?{query}" if query else target.url, encoded=True)
    try:
        upstream = await session.request(
            request.method,
            url,
            headers=_upstream_headers(request),
            data=body.chunks() if isinstance(body, CappedBody) else body,
            allow_redirects=False,
            auto_decompress=False,
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        if isinstance(body, CappedBody) and body.exceeded:
            raise _too_large(body.limit) from exc
        raise _upstream_failure(exc) from exc
    try:
        return await _relay_response(
            request,
            upstream.status,
            upstream.headers.items(),
            upstream.content_length,
            upstream.read,
            lambda: upstream.content.iter_chunked(_STREAM_CHUNK),
            extra_headers or {},
        )
    finally:
        upstream.release()


async def _forward_lean(
    request: web.Request, target: Target, pool: LeanPool, query: str, extra_headers: dict[str, str]
) -> web.StreamResponse:
    path = f"{target.upstream_path}?{query}" if query else target.upstream_path
    try:
        upstream = await pool.request(request.method, path, _upstream_headers(request).items())
    except (ConnectionError, TimeoutError) as exc:
        raise _upstream_failure(exc) from exc
    try:
        return await _relay_response(
            request,
            upstream.status,
            upstream.headers,
            upstream.content_length,
            upstream.read,
            upstream.iter_chunks,
            extra_headers,
        )
    except ConnectionError as exc:  # the service went away in the middle of its answer
        raise _upstream_failure(exc) from exc
    finally:
        upstream.release()


def _upstream_failure(exc: BaseException) -> Unavailable | GatewayTimeout:
    if isinstance(exc, TimeoutError):
        return GatewayTimeout("The service behind this path did not answer in time.")
    if isinstance(
        exc,
        aiohttp.ClientConnectorError
        | aiohttp.ServerDisconnectedError
        | UpstreamConnectError
        | UpstreamDisconnected,
    ):
        return Unavailable("The service behind this path is not available.")
    return Unavailable("The service behind this path failed to answer.")


def _response_headers(upstream_headers: Iterable[tuple[str, str]]) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream_headers:
        lowered = name.lower()
        if lowered in HOP_BY_HOP or lowered in ("content-length", "server", "date"):
            continue
        if lowered == "location":
            value = public_location(value)
        headers.add(name, value)
    return headers


def _cut_short(request: web.Request) -> None:
    """The service failed after its head went out to the client: a problem response can no
    longer be sent, and ending the body normally would pass a truncated answer off as whole
    (an export missing its tail). Aborting the connection leaves the client's framing
    (Content-Length or chunked) incomplete, so every HTTP client sees the answer as broken."""
    if request.transport is not None:
        request.transport.abort()


async def _relay_response(
    request: web.Request,
    status: int,
    upstream_headers: Iterable[tuple[str, str]],
    length: int | None,
    read: Callable[[], Awaitable[bytes]],
    chunks: Callable[[], AsyncIterator[bytes]],
    extra_headers: dict[str, str],
) -> web.StreamResponse:
    headers = _response_headers(upstream_headers)
    headers.update(extra_headers)
    headers[REQUEST_ID_HEADER] = request[REQUEST_ID_KEY]
    try:
        if length is not None and length <= _BUFFER_RESPONSE_LIMIT:
            return web.Response(status=status, headers=headers, body=await read())
        response = web.StreamResponse(status=status, headers=headers)
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        try:
            async for chunk in chunks():
                await response.write(chunk)
        except (ConnectionError, TimeoutError, aiohttp.ClientError):
            _cut_short(request)
            return response
        await response.write_eof()
        return response
    except TimeoutError as exc:
        raise GatewayTimeout("The service behind this path did not answer in time.") from exc
