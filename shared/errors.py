"""The domain's error hierarchy. One middleware (shared.web) turns these into problem+json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    """Base of every error a client may see. `status` and `title` pick the problem response."""

    status = 500
    title = "Internal Server Error"
    type_slug = "internal"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Mapping[str, Sequence[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = {key: list(msgs) for key, msgs in (errors or {}).items()} or None
        self.headers = dict(headers or {})


class InvalidInput(DomainError):
    status, title, type_slug = 400, "Bad Request", "invalid-input"


class Unauthorized(DomainError):
    status, title, type_slug = 401, "Unauthorized", "unauthorized"


class Forbidden(DomainError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class NotFound(DomainError):
    status, title, type_slug = 404, "Not Found", "not-found"


class RequestTimeout(DomainError):
    status, title, type_slug = 408, "Request Timeout", "request-timeout"


class Conflict(DomainError):
    status, title, type_slug = 409, "Conflict", "conflict"


class PreconditionFailed(DomainError):
    status, title, type_slug = 412, "Precondition Failed", "precondition-failed"


class PayloadTooLarge(DomainError):
    status, title, type_slug = 413, "Payload Too Large", "payload-too-large"


class UnsupportedMediaType(DomainError):
    status, title, type_slug = 415, "Unsupported Media Type", "unsupported-media-type"


class TooManyRequests(DomainError):
    status, title, type_slug = 429, "Too Many Requests", "rate-limited"


class Unavailable(DomainError):
    status, title, type_slug = 503, "Service Unavailable", "unavailable"


class GatewayTimeout(DomainError):
    status, title, type_slug = 504, "Gateway Timeout", "upstream-timeout"
