"""The route table of auth_service (public paths: the gateway forwards `/auth/...` unchanged)."""

from __future__ import annotations

from aiohttp import web

from auth_service import handlers

REALM = "/auth/realms/{tenant}"
OIDC = f"{REALM}/protocol/openid-connect"


def _both(path: str) -> tuple[str, str]:
    """A path and its trailing-slash twin (the suite ignores a trailing slash)."""
    return path, f"{path}/"


def add_routes(app: web.Application) -> None:
    for path in _both(f"{OIDC}/token"):
        app.router.add_post(path, handlers.token)
    for path in _both(f"{OIDC}/revoke"):
        app.router.add_post(path, handlers.revoke)
    for path in _both(f"{OIDC}/token/introspect"):
        app.router.add_post(path, handlers.introspect)
    for path in (*_both(f"{OIDC}/certs"), *_both("/auth/certs")):
        app.router.add_get(path, handlers.certs)
    for path in _both(f"{REALM}/.well-known/openid-configuration"):
        app.router.add_get(path, handlers.discovery)
