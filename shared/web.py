"""HTTP plumbing every service shares: request ids, access log, problem+json, JSON in and out."""

from __future__ import annotations

import functools
import ipaddress
import itertools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import structlog
from aiohttp import web

from shared.app_keys import METRICS
from shared.errors import DomainError, InvalidInput, UnsupportedMediaType
from shared.identifiers import is_request_id
from shared.log import log_access

REQUEST_ID_HEADER = "X-Request-ID"
PROBLEM_CONTENT_TYPE = "application/problem+json"
# A path segment that is a UUID (with or without hyphens, any case), for route placeholders
# (`{id:...}`): where a literal sibling exists (`/customers/validate`, `/batch/state-change`),
# only the literal route matches it, so a 405's Allow lists exactly that route's methods.
UUID_SEGMENT = "[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}"


def uuid_placeholder(name: str) -> str:
    """A route placeholder matching only a UUID segment, e.g. `{id:...}`."""
    return f"{{{name}:{UUID_SEGMENT}}}"


REQUEST_ID_KEY = web.RequestKey("request_id", str)
TENANT_KEY = web.RequestKey("tenant", str)
# A route template to count a request under instead of the matched route's (the gateway sets the
# public route a proxied request matches: its own route is one catch-all).
ROUTE_LABEL_KEY = web.RequestKey("route_label", str)
JSON_BODY_LIMIT = 1024 * 1024

log = structlog.get_logger("http")

# Paths whose requests are not worth an access-log line each (probes hit them every few seconds).
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    type_slug: str = "about",
    errors: Mapping[str, Sequence[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> web.Response:
    """An RFC 9457 problem response. Never carries a stack trace or an internal host name."""
    body = problem_body(
        status, title, detail, type_slug=type_slug, errors=errors, request_id=request_id
    )
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def problem_body(
    status: int,
    title: str,
    detail: str,
    *,
    type_slug: str = "about",
    errors: Mapping[str, Sequence[str]] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The RFC 9457 problem object (the body of a problem response, or one item's error)."""
    body: dict[str, Any] = {
        "type": f"urn:customer-suite:problem:{type_slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = {key: list(msgs) for key, msgs in errors.items()}
    if request_id:
        body["requestId"] = request_id
    return body


def domain_problem(exc: DomainError, request_id: str | None = None) -> dict[str, Any]:
    """The problem object of a domain error."""
    return problem_body(
        exc.status,
        exc.title,
        exc.detail,
        type_slug=exc.type_slug,
        errors=exc.errors,
        request_id=request_id,
    )


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json", headers=headers
    )


async def read_json(request: web.Request) -> Any:
    """The request's JSON body; 415 for another media type, 400 for malformed JSON."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"Expected Content-Type application/json, got {request.content_type or 'none'}."
        )
    raw = await request.read()
    if not raw:
        raise InvalidInput("The request body is empty.", errors={"_body": ["Missing JSON body."]})
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput(
            "The request body is not valid JSON.", errors={"_body": ["Malformed JSON."]}
        ) from None
    if b"\\u0000" in raw:  # valid JSON, but PostgreSQL text cannot hold NUL
        where = _nul_location(data)
        if where is not None:
            raise InvalidInput(_NUL_DETAIL, errors={where: [_NUL_MESSAGE]})
    return data


async def read_optional_json(request: web.Request) -> Any:
    """The JSON body as read_json, or None when the request has no body (an optional body).

    Whether there is one is asked of the request, not of its stream: a middleware may already
    have read the stream (the Idempotency-Key fingerprint), and the body is still there."""
    return await read_json(request) if request.body_exists else None


_NUL = "\x00"
_NUL_DETAIL = "Text must not contain the NUL character."
_NUL_MESSAGE = "Must not contain the NUL character (\\u0000)."


def _nul_location(value: Any, path: str = "") -> str | None:
    """The dotted path of the first key or string holding NUL in parsed JSON, else None."""
    if isinstance(value, str):
        return (path or "_body") if _NUL in value else None
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and _NUL in key:
            return here.replace(_NUL, "\\u0000")
        found = _nul_location(item, here)
        if found is not None:
            return found
    return None


@web.middleware
async def reject_nul_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """A NUL in the path or the query string is a 400 naming where, not a database error."""
    if "%00" in request.raw_path:
        if _NUL in request.path:
            raise InvalidInput(_NUL_DETAIL, errors={"_path": [_NUL_MESSAGE]})
        for name, value in request.query.items():
            if _NUL in name or _NUL in value:
                raise InvalidInput(
                    _NUL_DETAIL, errors={name.replace(_NUL, "\\u0000"): [_NUL_MESSAGE]}
                )
    return await handler(request)


def route_template(request: web.Request) -> str:
    """The matched route's pattern (never the raw path: paths can hold emails)."""
    label = request.get(ROUTE_LABEL_KEY)
    if label is not None:
        return label
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _request_id_from(request: web.Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return incoming if is_request_id(incoming) else _new_request_id()


# Generated request ids: 32 hex digits, a random per-process half and a counter. Unique (the
# random half tells processes apart) without a system call per request; a request id names a
# request in the logs and grants nothing, so it need not be unpredictable.
_request_id_prefix = os.urandom(8).hex()
_request_counter = itertools.count()


def _new_request_id() -> str:
    return f"{_request_id_prefix}{next(_request_counter):016x}"


def _reseed_request_ids() -> None:
    global _request_id_prefix, _request_counter
    _request_id_prefix = os.urandom(8).hex()
    _request_counter = itertools.count()


os.register_at_fork(after_in_child=_reseed_request_ids)


@web.middleware
async def request_context_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Outermost: request id, log context, one access-log line and the HTTP metrics."""
    request_id = _request_id_from(request)
    request[REQUEST_ID_KEY] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    metrics = request.config_dict[METRICS]  # the service's own registry
    metrics.http_in_flight.inc()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        metrics.http_in_flight.dec()
        elapsed = time.perf_counter() - started
        route = route_template(request)
        metrics.observe_request(request.method, route, status, elapsed)
        if request.path not in _QUIET_PATHS:
            log_access(
                "request",
                method=request.method,
                route=route,
                status=status,
                latency_ms=round(elapsed * 1000, 2),
                tenant=request.get(TENANT_KEY),
            )


@web.middleware
async def problem_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turns domain errors and aiohttp's HTTP errors into problem+json; hides everything else."""
    request_id = request.get(REQUEST_ID_KEY)
    try:
        return await handler(request)
    except DomainError as exc:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            type_slug=exc.type_slug,
            errors=exc.errors,
            headers=exc.headers,
            request_id=request_id,
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in _KEPT_ERROR_HEADERS}
        return problem_response(
            exc.status,
            exc.reason,
            _HTTP_DETAILS.get(exc.status, exc.reason),
            type_slug=_HTTP_TYPE_SLUGS.get(exc.status, f"http-{exc.status}"),
            headers=headers,
            request_id=request_id,
        )
    except Exception as exc:
        if getattr(exc, "sqlstate", None) in _UNSTORABLE_TEXT_SQLSTATES:  # a backstop: inputs
            return problem_response(  # are checked for NUL where they are read
                400, "Bad Request", _NUL_DETAIL, type_slug="invalid-input", request_id=request_id
            )
        log.exception("unhandled error", route=route_template(request))
        return problem_response(
            500,
            "Internal Server Error",
            "The server could not complete the request.",
            type_slug="internal",
            request_id=request_id,
        )


# PostgreSQL's "character not in repertoire" and "untranslatable character": text it cannot store.
_UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})
_KEPT_ERROR_HEADERS = frozenset({"allow", "www-authenticate", "retry-after"})
# The same problem types as the domain errors of the same status (shared.errors).
_HTTP_TYPE_SLUGS = {
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
}
_HTTP_DETAILS = {
    404: "No such resource.",
    405: "This method is not allowed on this resource.",
    413: "The request body is larger than this endpoint accepts.",
}


def base_middlewares() -> list[Any]:
    """The middlewares every service starts with, outermost first."""
    return [request_context_middleware, problem_middleware, reject_nul_middleware]


def client_address(request: web.Request, trusted_proxies: Sequence[str]) -> str:
    """The caller's address: the peer, unless the peer is a trusted proxy; then the
    X-Forwarded-For hops are read right to left, skipping trusted proxies, and the first
    untrusted one is the client (what an untrusted hop claims further left is not evidence).
    Only the peer and hops appended by trusted proxies can be believed."""
    peer = request.remote or "unknown"
    trusted = _trust_test(tuple(trusted_proxies))
    if not trusted(peer):
        return peer
    address = peer
    for header in reversed(request.headers.getall("X-Forwarded-For", [])):
        for hop in reversed(header.split(",")):
            try:
                ip = ipaddress.ip_address(hop.strip())
            except ValueError:
                return address  # garbage: the trusted proxy that passed it on is all we know
            address = str(ip)
            if not trusted(address):
                return address
    return address


@functools.lru_cache(maxsize=8)
def _trust_test(cidrs: tuple[str, ...]) -> Callable[[str], bool]:
    """Whether an address is in `cidrs`, cached per address: a few peers (the load balancers in
    front) ask on every request, and parsing the address costs more than the rest of the
    request's bookkeeping. The cache is keyed by the address alone (hashing the networks on
    every call was a visible share of the gateway's time)."""
    networks = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)

    @functools.lru_cache(maxsize=4096)
    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    return trusted
