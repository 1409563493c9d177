"""The gateway in-process against real Redis, a real JWKS endpoint and a stand-in upstream."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis
from structlog.testing import capture_logs
from yarl import URL

from gateway.app import create_app
from gateway.app_keys import RATE_LIMITER
from gateway.rate_limit import config_key
from shared.revocations import publish_client_revocation, publish_token_revocation
from tests.support.processes import throwaway_redis
from tests.support.waiting import eventually

API = "/services/customerservice/api/v2"
STREAM_ROWS = 2000  # ~1 MiB


class Upstream:
    """Stands in for customer_service: records what reached it."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.app = web.Application(client_max_size=2 * 1024**3)
        self.app.router.add_route("*", "/api/v2/slow", self.slow)
        self.app.router.add_post("/api/v2/drop", self.drop)
        self.app.router.add_post("/api/import/batch/{id}/file", self.upload)
        self.app.router.add_get("/api/v2/stream", self.stream)
        self.app.router.add_route("*", "/{path:.*}", self.echo)

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append({"path": request.path, "headers": dict(request.headers)})
        headers = {"Location": "/api/import/batch/42"} if request.path.endswith("/located") else {}
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": request.rel_url.raw_query_string,
                "headers": dict(request.headers),
                "bytes": len(body),
            },
            headers={**headers, "Connection": "keep-alive", "Keep-Alive": "timeout=5"},
        )

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """A chunked answer larger than the gateway buffers (an export)."""
        response = web.StreamResponse(headers={"Content-Type": "text/csv"})
        await response.prepare(request)
        for row in range(STREAM_ROWS):
            await response.write(b"%08d,%s\n" % (row, b"x" * 500))
        await response.write_eof()
        return response

    async def slow(self, _request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.json_response({})

    async def drop(self, request: web.Request) -> web.Response:
        self.seen.append({"path": request.path})
        request.transport.close()
        return web.Response()

    async def upload(self, request: web.Request) -> web.Response:
        total = 0
        async for chunk in request.content.iter_chunked(1 << 20):
            total += len(chunk)
        return web.json_response({"bytes": total}, status=202)


@pytest.fixture
async def upstream(aiohttp_server) -> tuple[Upstream, str]:
    stand_in = Upstream()
    server = await aiohttp_server(stand_in.app)
    return stand_in, str(server.make_url("")).rstrip("/")


@pytest.fixture
def gateway_settings(jwks_settings, upstream):
    settings, _ = jwks_settings
    return dataclasses.replace(
        settings, customer_service_url=upstream[1], upstream_read_timeout=0.5
    )


@pytest.fixture
async def gateway(aiohttp_client, gateway_settings):
    return await aiohttp_client(create_app(gateway_settings))


# POST goes upstream through aiohttp's client (it has a body), GET through the lean client.
@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_request_is_forwarded_with_prefix_stripped_and_headers_sanitised(
    aiohttp_client, gateway_settings, mint, unique_tenant, method
):
    """Prefix stripped, trailing slash dropped, query passed on as sent, hop-by-hop and spoofed
    forwarding headers replaced (the test client is no trusted proxy here), request id
    propagated, Location rewritten to the public path, the upstream's hop-by-hop answer headers
    dropped: on both upstream clients' paths."""
    untrusting = dataclasses.replace(gateway_settings, trusted_proxy_cidrs=("192.0.2.0/24",))
    gateway = await aiohttp_client(create_app(untrusting))
    response = await gateway.request(
        method,
        URL(f"{API}/things/located/?a=1&b=%2B&c=%40x", encoded=True),  # sent exactly so
        json={"x": 1} if method == "POST" else None,
        headers={
            **mint.headers(unique_tenant),
            "X-Request-ID": "req-123",
            "X-Forwarded-For": "6.6.6.6",
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "drop me",
            "Proxy-Authorization": "Basic zzz",
        },
    )
    assert response.status == 200
    echoed = await response.json()
    assert (echoed["method"], echoed["path"]) == (method, "/api/v2/things/located")
    assert echoed["query"] == "a=1&b=%2B&c=%40x"  # passed on as sent, not re-quoted
    seen = echoed["headers"]
    assert seen["X-Request-ID"] == "req-123"
    assert seen["X-Forwarded-For"] == "127.0.0.1"
    assert seen["Authorization"].startswith("Bearer ")  # customer_service verifies it again
    assert "X-Secret-Hop" not in seen and "Proxy-Authorization" not in seen
    assert seen["X-TWC-Tenant"] == unique_tenant
    assert response.headers["Location"] == "/services/impex/api/import/batch/42"
    assert "Keep-Alive" not in response.headers
    assert response.headers["X-Request-ID"] == "req-123"
    assert response.headers["Server"] == "customer-suite"  # no library version advertised


async def test_a_large_chunked_answer_streams_through(gateway, mint, unique_tenant):
    response = await gateway.get(f"{API}/stream", headers=mint.headers(unique_tenant))
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv"
    body = await response.read()
    assert body.count(b"\n") == STREAM_ROWS
    assert body.startswith(b"00000000,") and body.endswith(
        b"%08d,%s\n" % (STREAM_ROWS - 1, b"x" * 500)
    )


async def test_the_client_address_behind_trusted_proxies_is_passed_on(
    aiohttp_client, gateway_settings, mint, unique_tenant
):
    """Behind an ingress (a trusted proxy), the upstream gets the client's address as the one
    X-Forwarded-For hop: the rightmost hop that is no trusted proxy, never what the client
    itself wrote further left."""
    behind_ingress = dataclasses.replace(
        gateway_settings, trusted_proxy_cidrs=("127.0.0.0/8", "10.0.0.0/8")
    )
    gateway = await aiohttp_client(create_app(behind_ingress))
    for forwarded, client in (
        ("203.0.113.7", "203.0.113.7"),
        ("6.6.6.6, 203.0.113.7, 10.1.2.3", "203.0.113.7"),  # 6.6.6.6: the client's own claim
        ("10.9.9.9", "10.9.9.9"),  # only trusted hops: the leftmost
        ("not-an-ip, 10.1.2.3", "10.1.2.3"),
    ):
        response = await gateway.get(
            f"{API}/things", headers={**mint.headers(unique_tenant), "X-Forwarded-For": forwarded}
        )
        assert response.status == 200
        assert (await response.json())["headers"]["X-Forwarded-For"] == client, forwarded


async def test_unknown_prefix_is_404_and_auth_is_required(gateway, mint, unique_tenant):
    """Only the known prefixes are routed, each to its own API; /services needs a token."""
    assert (await gateway.get("/nowhere")).status == 404
    for elsewhere in (
        "/services/customerservice/metrics",  # every tenant's traffic
        "/services/customerservice/readyz",
        "/services/impex/api/v2/customers/x",  # the customer API under the impex prefix
        "/services/customerservice/api/import/batch",  # and the import API under customers
    ):
        response = await gateway.get(elsewhere, headers=mint.headers(unique_tenant))
        assert response.status == 404, elsewhere
    response = await gateway.get(f"{API}/customers/x")
    assert response.status == 401
    scoped = await gateway.post(
        f"{API}/customers", json={}, headers=mint.headers(unique_tenant, ("customers:read",))
    )
    assert scoped.status == 403
    assert "customers:write" in (await scoped.json())["detail"]


async def test_json_body_over_one_mebibyte_is_413_before_reaching_upstream(
    gateway, mint, unique_tenant, upstream
):
    """A declared body over 1 MiB on a JSON endpoint never reaches the service."""
    response = await gateway.post(
        f"{API}/customers",
        data=b"x" * (1024 * 1024 + 1),
        headers={**mint.headers(unique_tenant), "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert upstream[0].seen == []


async def test_slow_upstream_is_504_within_the_timeout(gateway, mint, unique_tenant):
    """A service that does not answer within the read timeout gives a 504 problem (the stand-in
    would answer 200 after 3 s; the gateway's read timeout is 0.5 s)."""
    response = await gateway.get(f"{API}/slow", headers=mint.headers(unique_tenant))
    assert response.status == 504
    assert response.content_type == "application/problem+json"


async def test_upstream_down_is_a_quick_503(aiohttp_client, gateway_settings, mint, unique_tenant):
    """Nothing listening upstream: 503 problem at once, no stack trace."""
    settings = dataclasses.replace(gateway_settings, customer_service_url="http://127.0.0.1:9")
    client = await aiohttp_client(create_app(settings))
    response = await client.get(f"{API}/customers/x", headers=mint.headers(unique_tenant))
    assert response.status == 503
    body = await response.json()
    assert "Traceback" not in body["detail"] and "127.0.0.1" not in body["detail"]


@pytest.fixture
async def gateway_before_raw_service(aiohttp_client, gateway_settings):
    """`connect(answer)`: a gateway whose customer_service is a raw TCP server that reads one
    request head and sends `answer`, bytes as they are (for answers no HTTP server would send)."""
    servers: list[asyncio.Server] = []

    async def connect(answer: bytes):
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
            await reader.read()  # until the gateway drops the connection
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        settings = dataclasses.replace(
            gateway_settings, customer_service_url=f"http://127.0.0.1:{port}"
        )
        return await aiohttp_client(create_app(settings))

    yield connect
    for server in servers:
        server.close()


async def test_a_malformed_upstream_answer_is_a_503_problem(
    gateway_before_raw_service, mint, unique_tenant
):
    """A service whose answer is not HTTP (here a header line without a colon): a problem, not
    a hang or a stack trace."""
    client = await gateway_before_raw_service(
        b"HTTP/1.1 200 OK\r\nNo colon here\r\nContent-Length: 0\r\n\r\n"
    )
    response = await client.get(f"{API}/customers/x", headers=mint.headers(unique_tenant))
    assert response.status == 503
    assert response.content_type == "application/problem+json"
    assert "Traceback" not in (await response.json())["detail"]


async def test_an_answer_broken_after_its_head_reaches_the_client_broken(
    gateway_before_raw_service, mint, unique_tenant
):
    """A service that sends its head and part of a chunked body, then garbage: the head is
    already with the client, so the gateway cuts the connection; the client must not get a
    complete-looking answer (nor a problem document spliced into the body)."""
    client = await gateway_before_raw_service(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n" % (70_000, b"r" * 70_000)
        + b"not-a-chunk-size\r\n"
    )
    response = await client.get(f"{API}/customers/x", headers=mint.headers(unique_tenant))
    assert response.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()


async def test_failed_post_is_not_retried(gateway, mint, unique_tenant, upstream):
    """A connection dropped during a POST is reported, not replayed."""
    response = await gateway.post(f"{API}/drop", json={}, headers=mint.headers(unique_tenant))
    assert response.status in (502, 503)
    assert [s["path"] for s in upstream[0].seen] == ["/api/v2/drop"]


async def test_rate_limit_per_tenant_answers_429_with_headers(gateway, mint, unique_tenant, redis):
    """Over the tenant's configured burst: 429 with Retry-After and RateLimit-* headers."""
    await redis.hset(config_key(unique_tenant), mapping={"rate": 0.5, "burst": 3})
    statuses = []
    for _ in range(4):
        response = await gateway.get(f"{API}/ping", headers=mint.headers(unique_tenant))
        statuses.append(response.status)
    assert statuses == [200, 200, 200, 429]
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["RateLimit-Limit"] == "3"
    assert response.headers["RateLimit-Remaining"] == "0"
    other = await gateway.get(f"{API}/ping", headers=mint.headers(unique_tenant + "z"))
    assert other.status == 200
    assert int(other.headers["RateLimit-Remaining"]) > 0


async def test_rate_limit_per_client_leaves_other_clients_of_the_tenant_alone(
    gateway, mint, unique_tenant, redis
):
    """One noisy client is limited by its own bucket; another client still gets through."""
    await redis.hset(config_key(unique_tenant), mapping={"client_rate": 0.5, "client_burst": 2})
    noisy = {"Authorization": f"Bearer {mint.token(unique_tenant, sub='noisy')}",
             "X-TWC-Tenant": unique_tenant}  # fmt: skip
    codes = [(await gateway.get(f"{API}/ping", headers=noisy)).status for _ in range(3)]
    assert codes == [200, 200, 429]
    quiet = await gateway.get(f"{API}/ping", headers=mint.headers(unique_tenant))
    assert quiet.status == 200


async def test_two_gateways_share_one_tenant_limit(aiohttp_client, gateway_settings, mint,
                                                   unique_tenant, redis):  # fmt: skip
    """Two gateway apps (two processes' worth of state) on one Redis: together they admit no
    more than the tenant's burst of 200, at most two blocks (of 10) fewer, and answer 429 with
    the RateLimit headers once it is spent."""
    no_refill = {"rate": 0.001, "client_rate": 0.001, "burst": 200}
    await redis.hset(config_key(unique_tenant), mapping=no_refill)
    settings = dataclasses.replace(gateway_settings, rate_limit_client_burst=10_000)
    gateways = [await aiohttp_client(create_app(settings)) for _ in range(2)]
    headers = mint.headers(unique_tenant)

    async def one(i: int) -> int:
        response = await gateways[i % 2].get(f"{API}/ping", headers=headers)
        if response.status == 429:
            assert response.headers["RateLimit-Remaining"] == "0"
            assert int(response.headers["Retry-After"]) >= 1
        return response.status

    statuses: list[int] = []
    for start in range(0, 260, 20):
        statuses += await asyncio.gather(*(one(i) for i in range(start, start + 20)))
    assert set(statuses) <= {200, 429}
    assert 200 - 2 * 10 <= statuses.count(200) <= 200
    reservations = sum(g.server.app[RATE_LIMITER].reservations for g in gateways)
    assert reservations < statuses.count(200) / 2


async def test_revoked_token_is_refused_within_a_second(gateway, mint, unique_tenant, redis):
    """A revocation published to Redis reaches the gateway's local denylist at once."""
    token = mint.token(unique_tenant)
    headers = {"Authorization": f"Bearer {token}", "X-TWC-Tenant": unique_tenant}
    assert (await gateway.get(f"{API}/ping", headers=headers)).status == 200
    claims = mint.claims_of(token)
    await publish_token_revocation(
        redis, claims["jti"], claims["exp"], keep_until=claims["exp"] + 30
    )

    async def refused() -> bool:
        return (await gateway.get(f"{API}/ping", headers=headers)).status == 401

    await eventually(refused, timeout=1.0, interval=0.02)  # API.md §2: refused within 1 s
    assert (await gateway.get(f"{API}/ping", headers=mint.headers(unique_tenant))).status == 200


async def test_tokens_of_a_revoked_client_are_refused(gateway, mint, unique_tenant, redis):
    """After a client is revoked, every token it was issued before is refused."""
    headers = mint.headers(unique_tenant)
    assert (await gateway.get(f"{API}/ping", headers=headers)).status == 200
    now = int(time.time())
    await publish_client_revocation(
        redis, unique_tenant, "test-client", revoked_at=now, keep_until=now + 60
    )

    async def refused() -> bool:
        return (await gateway.get(f"{API}/ping", headers=headers)).status == 401

    await eventually(refused, timeout=1.0, interval=0.02)


async def test_redis_outage_keeps_revocations_and_skips_rate_limits(
    aiohttp_client, gateway_settings, mint, unique_tenant
):
    """With Redis gone: revoked tokens stay refused (local copy), requests pass unlimited and
    the outage is logged."""
    async with throwaway_redis() as (url, process):
        settings = dataclasses.replace(
            gateway_settings, redis_url=url, rate_limit_tenant_burst=2,
            rate_limit_tenant_per_second=0.1,
        )  # fmt: skip
        client = await aiohttp_client(create_app(settings))
        revoked = mint.token(unique_tenant)
        claims = mint.claims_of(revoked)
        private = Redis.from_url(url)
        await publish_token_revocation(
            private, claims["jti"], claims["exp"], keep_until=claims["exp"]
        )
        await private.aclose()
        revoked_headers = {"Authorization": f"Bearer {revoked}", "X-TWC-Tenant": unique_tenant}

        async def refused() -> bool:
            return (await client.get(f"{API}/ping", headers=revoked_headers)).status == 401

        await eventually(refused, timeout=2.0)
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)
        with capture_logs() as logs:
            statuses = [
                (await client.get(f"{API}/ping", headers=mint.headers(unique_tenant))).status
                for _ in range(5)
            ]
        assert statuses == [200] * 5  # the burst of 2 is not enforced without Redis
        assert any("rate limiting skipped" in entry["event"] for entry in logs)
        assert (await client.get(f"{API}/ping", headers=revoked_headers)).status == 401
