"""auth_service's part of the OpenAPI document: the rows of its routes and the schemas of
their forms and answers (deploy/local/openapi.py puts every service's part together)."""

from __future__ import annotations

from marshmallow import fields, validate

from shared.authz import ALL_SCOPES
from shared.openapi.base import DocSchema, described
from shared.openapi.table import AUTH, Operation, ServiceApi
from shared.schemas import patterns

_OIDC = "/auth/realms/{}/protocol/openid-connect"


class TokenRequest(DocSchema):
    """The client authenticates with HTTP Basic (the security scheme), or instead sends
    client_id and client_secret as form fields (RFC 6749 §2.3.1), never both."""

    grant_type = fields.String(required=True, validate=validate.OneOf(["client_credentials"]))
    scope = fields.String(
        metadata=described(
            "Space-separated subset of the client's scopes; default all.",
            pattern=patterns.space_separated(ALL_SCOPES),
        )
    )


class TokenOut(DocSchema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True)
    scope = fields.String(required=True)


class TokenActionRequest(DocSchema):
    """Revocation (RFC 7009) and introspection (RFC 7662) requests."""

    token = fields.String(required=True, validate=validate.Length(min=1))
    token_type_hint = fields.String()


class IntrospectionOut(DocSchema):
    active = fields.Boolean(required=True)
    scope = fields.String()
    client_id = fields.String()
    sub = fields.String()
    tenant = fields.String()
    exp = fields.Integer()
    iat = fields.Integer()
    jti = fields.String()


class JwkOut(DocSchema):
    kty = fields.String(required=True)
    kid = fields.String(required=True)
    use = fields.String()
    alg = fields.String()
    n = fields.String()
    e = fields.String()


class JwksOut(DocSchema):
    keys = fields.List(fields.Nested(JwkOut), required=True)


class OpenIdConfigurationOut(DocSchema):
    issuer = fields.String(required=True)
    token_endpoint = fields.String(required=True)
    jwks_uri = fields.String(required=True)
    revocation_endpoint = fields.String()
    introspection_endpoint = fields.String()


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", f"{_OIDC}/token"): Operation(
        "Get an access token (client credentials)", AUTH, form="TokenRequest", response="Token",
        description="Put the access_token into Authorize (bearer) to call the other operations.",
    ),
    ("POST", f"{_OIDC}/revoke"): Operation(
        "Revoke a token (RFC 7009)", AUTH, form="TokenActionRequest",
    ),
    ("POST", f"{_OIDC}/token/introspect"): Operation(
        "Introspect a token (RFC 7662)", AUTH, form="TokenActionRequest",
        response="Introspection",
    ),
    ("GET", f"{_OIDC}/certs"): Operation("The realm's JWKS", AUTH, response="JWKS"),
    ("GET", "/auth/certs"): Operation("The suite-wide JWKS", AUTH, response="JWKS"),
    ("GET", "/auth/realms/{}/.well-known/openid-configuration"): Operation(
        "OpenID Connect discovery", AUTH, response="OpenIDConfiguration",
    ),
}  # fmt: skip

API = ServiceApi(
    operations=OPERATIONS,
    components={
        "TokenRequest": TokenRequest,
        "Token": TokenOut,
        "TokenActionRequest": TokenActionRequest,
        "Introspection": IntrospectionOut,
        "JWK": JwkOut,
        "JWKS": JwksOut,
        "OpenIDConfiguration": OpenIdConfigurationOut,
    },
    # Forms: one value per parameter (RFC 6749 §3.2: a repeated one is invalid_request).
    constraints={
        "TokenRequest": {"additionalProperties": {"type": "string"}},
        "TokenActionRequest": {"additionalProperties": {"type": "string"}},
    },
)
