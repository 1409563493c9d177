"""The public operations of the suite, read from the services' own route tables.

Each service's app is built (never started: no socket, no pool) and its router read; a route is
public when the gateway maps a public path onto it (`gateway.upstreams`), so operational routes
(`/healthz`, `/metrics`, ...) drop out by the gateway's own rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import hdrs, web

from gateway.upstreams import Route, build_routes, public_location, resolve
from shared.settings import Settings

# Methods documented for a route registered with "*".
_ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE")
_REGEX_PLACEHOLDER = re.compile(r"\{([^{}:]+):[^{}]*\}")


@dataclass(frozen=True, slots=True, order=True)
class PublicOperation:
    public_path: str  # OpenAPI path template, e.g. /services/customerservice/api/v2/customers/{id}
    method: str  # upper case
    upstream_path: str  # the template the service registered (trailing slash dropped)
    service: str
    authenticated: bool


def _service_apps(settings: Settings) -> list[tuple[str, web.Application]]:
    # Imported here: a broken service module must not keep the gateway from starting.
    from auth_service.app import create_app as auth_app
    from customer_service.app import create_app as customer_app

    return [("customer_service", customer_app(settings)), ("auth_service", auth_app(settings))]


def template_of(route: web.AbstractRoute) -> str | None:
    """The route's path template in OpenAPI form (regex placeholders reduced to their name)."""
    resource = route.resource
    if resource is None:
        return None
    return _REGEX_PLACEHOLDER.sub(r"{\1}", resource.canonical)


def public_operations(
    settings: Settings,
    apps: Callable[[Settings], Iterable[tuple[str, web.Application]]] = _service_apps,
) -> list[PublicOperation]:
    """Every (public path, method) the services register, sorted, trailing-slash twins merged."""
    gateway_routes = build_routes(settings)
    found: set[PublicOperation] = set()
    for service, app in apps(settings):
        for route in app.router.routes():
            template = template_of(route)
            if template is None or route.method == hdrs.METH_HEAD:
                continue
            upstream = template.rstrip("/") or "/"
            public = _public_path(gateway_routes, upstream)
            if public is None:
                continue
            public_path, gateway_route = public
            methods = _ANY_METHOD if route.method == hdrs.METH_ANY else (route.method.upper(),)
            for method in methods:
                found.add(
                    PublicOperation(
                        public_path, method, upstream, service, gateway_route.authenticated
                    )
                )
    return sorted(found)


def _public_path(routes: tuple[Route, ...], upstream: str) -> tuple[str, Route] | None:
    """The public path whose gateway route leads back to `upstream`, or None (not public)."""
    public = public_location(upstream)
    target = resolve(routes, public)
    if target is None or target.upstream_path != upstream:
        return None
    return public, target.route
