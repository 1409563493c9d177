"""The public operations of the suite, read from the services' own route tables.

Each service serves its route table on its own port (`GET /routes`, `shared.route_table`); the
gateway fetches it from each upstream, so it documents what the running services really
register without importing them. A route is public when the gateway maps a public path onto it
(`gateway.upstreams`), so operational routes (`/healthz`, `/metrics`, `/routes`, ...) drop out
by the gateway's own rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from gateway.upstreams import Route, build_routes, public_location, resolve, routed_services
from shared.route_table import ROUTE_TABLE_PATH
from shared.settings import Settings

# Methods documented for a route registered with "*".
_ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE")
_REGEX_PLACEHOLDER = re.compile(r"\{([^{}:]+):[^{}]*\}")

# service → its routes as (method, path template as registered).
RouteTables = Mapping[str, Sequence[tuple[str, str]]]


class RouteTablesUnavailable(Exception):
    """An upstream did not answer (yet): worth trying again."""


class RouteTableInvalid(ValueError):
    """An upstream answered something else than its route table: trying again will not help."""


@dataclass(frozen=True, slots=True, order=True)
class PublicOperation:
    public_path: str  # OpenAPI path template, e.g. /services/customerservice/api/v2/customers/{id}
    method: str  # upper case
    upstream_path: str  # the template the service registered (trailing slash dropped)
    service: str
    authenticated: bool


async def fetch_route_tables(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """Each routed service's table from its `GET /routes`. An upstream that does not answer, or
    answers 5xx, raises RouteTablesUnavailable; any other answer than a table is
    RouteTableInvalid (a bug, not a passing state)."""
    timeout = aiohttp.ClientTimeout(
        total=settings.upstream_connect_timeout + settings.dependency_timeout,
        connect=settings.upstream_connect_timeout,
    )
    tables: dict[str, list[tuple[str, str]]] = {}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for service, base_url in routed_services(settings).items():
            tables[service] = await _fetch_table(session, service, base_url + ROUTE_TABLE_PATH)
    return tables


async def _fetch_table(
    session: aiohttp.ClientSession, service: str, url: str
) -> list[tuple[str, str]]:
    try:
        async with session.get(url) as response:
            if response.status >= 500:
                raise RouteTablesUnavailable(f"{service} answered {response.status}")
            if response.status != 200:
                raise RouteTableInvalid(f"{service} has no route table ({response.status})")
            try:
                body = await response.json(content_type=None)
            except ValueError:
                raise RouteTableInvalid(f"{service} sent a malformed route table") from None
    except (TimeoutError, aiohttp.ClientConnectionError) as exc:
        raise RouteTablesUnavailable(f"{service} does not answer") from exc
    routes = body.get("routes") if isinstance(body, dict) else None
    if not isinstance(routes, list) or not all(
        isinstance(r, dict) and isinstance(r.get("method"), str) and isinstance(r.get("path"), str)
        for r in routes
    ):
        raise RouteTableInvalid(f"{service} sent a malformed route table")
    return [(route["method"], route["path"]) for route in routes]


def template_of(path: str) -> str:
    """A registered path template in OpenAPI form (regex placeholders reduced to their name)."""
    return _REGEX_PLACEHOLDER.sub(r"{\1}", path)


def public_operations(settings: Settings, tables: RouteTables) -> list[PublicOperation]:
    """Every (public path, method) the services register, sorted, trailing-slash twins merged."""
    gateway_routes = build_routes(settings)
    found: set[PublicOperation] = set()
    for service, routes in tables.items():
        for method, path in routes:
            if method.upper() == "HEAD":
                continue
            upstream = template_of(path).rstrip("/") or "/"
            public = _public_path(gateway_routes, upstream)
            if public is None:
                continue
            public_path, gateway_route = public
            for each in _methods(method):
                found.add(
                    PublicOperation(
                        public_path, each, upstream, service, gateway_route.authenticated
                    )
                )
    return sorted(found)


def _methods(method: str) -> Iterable[str]:
    return _ANY_METHOD if method == "*" else (method.upper(),)


def _public_path(routes: tuple[Route, ...], upstream: str) -> tuple[str, Route] | None:
    """The public path whose gateway route leads back to `upstream`, or None (not public)."""
    public = public_location(upstream)
    target = resolve(routes, public)
    if target is None or target.upstream_path != upstream:
        return None
    return public, target.route
