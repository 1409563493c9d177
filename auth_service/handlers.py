"""HTTP in and out for the auth endpoints.

The OAuth endpoints (token, revoke, introspect) answer errors as RFC 6749 §5.2 JSON; the
others (JWKS, discovery) use the suite's problem+json like every other service.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from auth_service import metrics
from auth_service.app_keys import KEYRING, TOKENS
from auth_service.credentials import basic_challenge, client_credentials
from auth_service.errors import InvalidClient, InvalidRequest, OAuthError, UnsupportedGrantType
from auth_service.repository import Client
from shared.app_keys import SETTINGS
from shared.authz import ALL_SCOPES
from shared.errors import NotFound
from shared.identifiers import is_tenant_id
from shared.tokens import ALGORITHM
from shared.web import TENANT_KEY, client_address, json_response

log = structlog.get_logger("auth")

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
CLIENT_CREDENTIALS = "client_credentials"
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
# RFC 6749 §5.1: token responses (and their errors) must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
OIDC = "/protocol/openid-connect"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def oauth_error_response(exc: OAuthError) -> web.Response:
    return json_response(
        {"error": exc.error, "error_description": exc.description},
        status=exc.status,
        headers={**NO_STORE, **exc.headers},
    )


def oauth_endpoint(*, counts_refusals: bool = False) -> Callable[[Handler], Handler]:
    """Render OAuthErrors as RFC 6749 JSON (optionally counted as refused token requests)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except OAuthError as exc:
                if counts_refusals:
                    metrics.TOKENS_REFUSED.labels(exc.error).inc()
                return oauth_error_response(exc)

        return wrapper

    return decorate


def _realm(request: web.Request) -> str:
    """The path's tenant; one that is not a tenant id names no realm (404), and is never echoed
    (a Basic challenge's realm, a log line)."""
    tenant = request.match_info["tenant"]
    if not is_tenant_id(tenant):
        raise NotFound("No such realm.")
    return tenant


async def _read_form(request: web.Request) -> dict[str, str]:
    """The urlencoded form; another body type, bad encoding or a repeated parameter is
    `invalid_request` (RFC 6749 §3.2: parameters must not be included more than once)."""
    if request.content_type != FORM_CONTENT_TYPE:
        raise InvalidRequest(f"The request body must be {FORM_CONTENT_TYPE}.")
    try:
        form = await request.post()
    except ValueError:
        raise InvalidRequest("The request body is not a valid form.") from None
    fields: dict[str, str] = {}
    for name, value in form.items():
        if name in fields:
            raise InvalidRequest(f"The parameter {name} is repeated.")
        if not isinstance(value, str):
            raise InvalidRequest("The request body is not a valid form.")
        fields[name] = value
    return fields


async def _authenticate(request: web.Request, tenant: str, form: dict[str, str]) -> Client:
    """The authenticated client. Sending no client authentication at all (no Authorization
    header, neither client_id nor client_secret) is `invalid_client` (RFC 6749 §5.2: "no client
    authentication included"), 401 with a Basic challenge; one of the two fields alone is a
    missing field (`invalid_request`)."""
    if "Authorization" not in request.headers and not form.keys() & {"client_id", "client_secret"}:
        raise InvalidClient("Client authentication is required.", headers=basic_challenge(tenant))
    credentials = client_credentials(request.headers.get("Authorization"), form, tenant)
    try:
        client = await request.app[TOKENS].authenticate(
            tenant,
            credentials,
            address=client_address(request, request.app[SETTINGS].trusted_proxy_cidrs),
        )
    except InvalidClient as exc:
        if credentials.via_basic:  # RFC 6749 §5.2: a Basic attempt is answered with a challenge
            exc.headers.update(basic_challenge(tenant))
        raise
    request[TENANT_KEY] = tenant
    structlog.contextvars.bind_contextvars(tenant=tenant, client_id=client.client_id)
    return client


@oauth_endpoint(counts_refusals=True)
async def token(request: web.Request) -> web.Response:
    tenant = _realm(request)
    form = await _read_form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("The grant_type parameter is required.")
    if grant_type != CLIENT_CREDENTIALS:
        raise UnsupportedGrantType()
    client = await _authenticate(request, tenant, form)
    issued = await request.app[TOKENS].issue(client, form.get("scope"))
    return json_response(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": " ".join(issued.scopes),
        },
        headers=NO_STORE,
    )


@oauth_endpoint()
async def revoke(request: web.Request) -> web.Response:
    tenant = _realm(request)
    form = await _read_form(request)
    if not form.get("token"):
        raise InvalidRequest("The token parameter is required.")
    client = await _authenticate(request, tenant, form)
    # token_type_hint is optional and only a hint: we have access tokens only.
    await request.app[TOKENS].revoke(client, form["token"])
    return web.Response(status=200, headers=NO_STORE)


@oauth_endpoint()
async def introspect(request: web.Request) -> web.Response:
    tenant = _realm(request)
    form = await _read_form(request)
    if not form.get("token"):
        raise InvalidRequest("The token parameter is required.")
    client = await _authenticate(request, tenant, form)
    return json_response(
        await request.app[TOKENS].introspect(client, form["token"]), headers=NO_STORE
    )


async def certs(request: web.Request) -> web.Response:
    """The suite-wide JWKS (every realm publishes the same keys)."""
    if "tenant" in request.match_info:
        _realm(request)
    # Verifiers refetch on an unknown kid; a cached copy would hide a fresh key from them.
    return json_response(await request.app[KEYRING].jwks(), headers={"Cache-Control": "no-cache"})


async def discovery(request: web.Request) -> web.Response:
    """OIDC discovery for any well-formed tenant id: the document is the same shape for all and
    is built from settings alone, so it reveals nothing about which tenants exist."""
    tenant = _realm(request)
    issuer = request.app[SETTINGS].issuer_for(tenant)
    return json_response(
        {
            "issuer": issuer,
            "token_endpoint": f"{issuer}{OIDC}/token",
            "jwks_uri": f"{issuer}{OIDC}/certs",
            "revocation_endpoint": f"{issuer}{OIDC}/revoke",
            "introspection_endpoint": f"{issuer}{OIDC}/token/introspect",
            "grant_types_supported": [CLIENT_CREDENTIALS],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
            # Required by OIDC Discovery 1.0 §3 even for a server that issues no id_token.
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "scopes_supported": list(ALL_SCOPES),
        },
        headers={"Cache-Control": "public, max-age=300"},
    )
