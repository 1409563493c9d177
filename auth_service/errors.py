"""Errors of the OAuth endpoints (token, revoke, introspect), answered as RFC 6749 §5.2 JSON
(`{"error": "invalid_client", "error_description": "…"}`), never as problem+json: OAuth client
libraries read the `error` member."""

from __future__ import annotations

from collections.abc import Mapping

from shared.errors import NotFound


class OAuthError(Exception):
    status = 400
    error = "invalid_request"
    description = "The request is missing a parameter or is malformed."

    def __init__(
        self, description: str | None = None, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(description or self.description)
        self.description = description or self.description
        self.headers = dict(headers or {})


class InvalidRequest(OAuthError):
    pass


class InvalidClient(OAuthError):
    # One answer for unknown tenant, unknown client, revoked client and wrong secret: the caller
    # learns nothing about which it was.
    status, error, description = 401, "invalid_client", "Client authentication failed."


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    description = "This client is not allowed to do that."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    description = "Only the client_credentials grant is supported."


class InvalidScope(OAuthError):
    error, description = "invalid_scope", "The requested scope is not granted to this client."


class SlowDown(OAuthError):
    """Too many failed client authentications (429). `slow_down` is RFC 8628's name for it."""

    status, error = 429, "slow_down"
    description = "Too many failed client authentications; retry later."

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class TemporarilyUnavailable(OAuthError):
    status, error = 503, "temporarily_unavailable"
    description = "A dependency of the authorization server is not available; retry later."

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description, headers={"Retry-After": "1"})


# Provisioning (the CLI): plain domain errors.
class NoSuchTenant(NotFound):
    pass


class NoSuchClient(NotFound):
    pass
