"""Who may call what: the tenant header rule and the scope each operation needs."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from shared import metrics
from shared.errors import Forbidden
from shared.tokens import TokenClaims, TokenVerifier, bearer_token
from shared.web import TENANT_KEY

TENANT_HEADER = "X-TWC-Tenant"

READ_CUSTOMERS = "customers:read"
WRITE_CUSTOMERS = "customers:write"
READ_IMPEX = "impex:read"
WRITE_IMPEX = "impex:write"
SHOPPERS_AUTH = "shoppers:auth"
SHOPPERS_ADMIN = "shoppers:admin"
WRITE_ORDERS = "orders:write"
# What a client gets unless provisioning names its scopes (`--scopes`).
DEFAULT_SCOPES = (READ_CUSTOMERS, WRITE_CUSTOMERS, READ_IMPEX, WRITE_IMPEX)
# Granted only when asked for: a storefront backend logging shoppers in (API.md §10), an order
# feed (§11).
OPT_IN_SCOPES = (SHOPPERS_AUTH, SHOPPERS_ADMIN, WRITE_ORDERS)
ALL_SCOPES = (*DEFAULT_SCOPES, *OPT_IN_SCOPES)

# `/shoppers/{customerId}/password|sessions`: a retailer acting on a shopper (not `/me/...`).
_SHOPPER_ADMIN_PATH = re.compile(r"/shoppers/(?!me/)[^/]+/(password|sessions)/?$")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CLAIMS_KEY = web.RequestKey("token_claims", TokenClaims)


def required_scope(method: str, path: str) -> str:
    """The scope an operation needs, from its method and (upstream or public) path."""
    is_read = method.upper() in _READ_METHODS or _is_read_post(method, path)
    if "/shoppers" in path:
        return SHOPPERS_ADMIN if _SHOPPER_ADMIN_PATH.search(path) else SHOPPERS_AUTH
    if "/order-events" in path:
        return WRITE_ORDERS
    if "/api/import" in path or "/upload-customers" in path:
        return READ_IMPEX if is_read else WRITE_IMPEX
    return READ_CUSTOMERS if is_read else WRITE_CUSTOMERS


def _is_read_post(method: str, path: str) -> bool:
    """POST /customers/search carries its criteria in a body but only reads (API.md §7)."""
    return method.upper() == "POST" and path.rstrip("/").endswith("/api/v2/customers/search")


async def authorize(request: web.Request, verifier: TokenVerifier, path: str) -> TokenClaims:
    """Verify the bearer token, the tenant header and the scope; bind the tenant to the logs."""
    try:
        claims = await verifier.verify(bearer_token(request.headers.get("Authorization")))
    except Exception as exc:
        metrics.TOKENS_REFUSED.labels(type(exc).__name__).inc()
        raise
    if request.headers.get(TENANT_HEADER) != claims.tenant:
        raise Forbidden(f"The {TENANT_HEADER} header must name the tenant of the access token.")
    request[TENANT_KEY] = claims.tenant
    request[CLAIMS_KEY] = claims
    structlog.contextvars.bind_contextvars(tenant=claims.tenant, client_id=claims.client_id)
    scope = required_scope(request.method, path)
    if scope not in claims.scopes:
        raise Forbidden(
            f"The access token lacks the scope {scope!r} this operation needs.",
            # RFC 6750 §3.1: the challenge names the error and the scope that would do.
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )
    return claims


def auth_middleware(
    verifier: TokenVerifier, *, is_public: Callable[[str], bool]
) -> Callable[[web.Request, Any], Awaitable[web.StreamResponse]]:
    """Middleware: every path for which `is_public(path)` is false needs a valid token."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if not is_public(request.path):
            await authorize(request, verifier, request.path)
        return await handler(request)

    return middleware


def claims_of(request: web.Request) -> TokenClaims:
    """The verified claims the auth middleware stored on the request."""
    return request[CLAIMS_KEY]
