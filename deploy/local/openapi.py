"""`make openapi`: writes the suite's OpenAPI document, gateway/openapi.json, which the gateway
serves as it is (a build step, so the gateway never imports a service).

The public operations are read from the services' own route tables: each service's app is built
(never started: no socket, no pool) and its router read; a route is public when the gateway maps
a public path onto it (`gateway.upstreams`), so operational routes (`/healthz`, `/metrics`, ...)
drop out by the gateway's own rule. Each service describes its operations in its own `openapi`
module (rows and schemas, from the definitions it validates with); shared.openapi assembles them.
A unit test fails when the committed file differs from what this writes.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web

from auth_service.app import create_app as auth_app
from auth_service.openapi import API as AUTH_API
from customer_service.app import create_app as customer_app
from customer_service.openapi import API as CUSTOMER_API
from gateway.public_api import DOCUMENT_PATH
from gateway.upstreams import Route, build_routes, public_location, resolve
from shared.openapi.document import build_document
from shared.openapi.table import PublicOperation
from shared.settings import Settings

# Methods documented for a route registered with "*".
_ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE")
_REGEX_PLACEHOLDER = re.compile(r"\{([^{}:]+):[^{}]*\}")


def _service_apps(settings: Settings) -> list[tuple[str, web.Application]]:
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


def build(settings: Settings | None = None) -> dict[str, Any]:
    """The document of every public operation the services register."""
    settings = settings or Settings()
    return build_document(public_operations(settings), [CUSTOMER_API, AUTH_API])


def render(document: dict[str, Any]) -> str:
    """The file's text: stable, so a change to the API is a readable diff."""
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCUMENT_PATH
    target.write_text(render(build()), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
