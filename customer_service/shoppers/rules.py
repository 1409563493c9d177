"""The rules of shopper accounts that need no I/O: who may log in, what a shopper may write,
password policy, and the errors every failed login or missing session answers with."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg

from customer_service import metrics
from shared.errors import DomainError, InvalidInput, Unauthorized
from shared.schemas import CustomerValidationError
from shared.schemas.shoppers import load_body

# Fields of the customer that only the retailer writes: /me and register ignore them.
RETAILER_OWNED_FIELDS = frozenset(
    {
        "email", "customerRef", "alternateCustomerRef", "customer_state", "active",
        "verified_email", "vipStatus", "loyaltyTier", "spendToNextTier", "memberSince",
    }
)  # fmt: skip
# States in which a customer cannot log in (besides `active: false`).
_LOCKED_STATES = frozenset({"disabled", "declined"})
_Login = Callable[..., Awaitable[dict[str, Any]]]


class LoginFailed(Unauthorized):
    """The one answer to every failed login, whatever the reason (no account enumeration)."""

    def __init__(self, tenant: str) -> None:
        super().__init__(
            "The username or the password (or code) is not valid.",
            headers={"WWW-Authenticate": f'AccessToken realm="{tenant}"'},
        )


class SessionRequired(Unauthorized):
    def __init__(self, tenant: str) -> None:
        super().__init__(
            "A valid shopper session is required in the AccessToken header.",
            headers={"WWW-Authenticate": f'AccessToken realm="{tenant}"'},
        )


def load_request(schema: Any, body: object) -> dict[str, Any]:
    try:
        return load_body(schema, body)
    except CustomerValidationError as exc:
        raise InvalidInput("The request is not valid.", errors=exc.errors) from None


def check_new_password(password: str, username: str | None, field: str) -> None:
    if username is not None and password.strip().lower() == username.strip().lower():
        raise InvalidInput(
            "The password must not be the username.",
            errors={field: ["Must not be the username."]},
        )


def shopper_fields(body: object) -> object:
    """The body without the retailer-owned fields (ignored, like read-only fields)."""
    if isinstance(body, Mapping):
        return {k: v for k, v in body.items() if k not in RETAILER_OWNED_FIELDS}
    return body


_LOGIN_OUTCOMES = {400: "invalid", 401: "failed", 429: "locked", 503: "unavailable"}


def counted_login(method: str) -> Callable[[_Login], _Login]:
    """Count a login use case's outcomes in `shopper_logins_total` (never who tried)."""

    def decorate(use_case: _Login) -> _Login:
        @functools.wraps(use_case)
        async def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
            try:
                result = await use_case(*args, **kwargs)
            except DomainError as exc:
                outcome = _LOGIN_OUTCOMES.get(exc.status, "error")
                metrics.SHOPPER_LOGINS.labels(method, outcome).inc()
                raise
            metrics.SHOPPER_LOGINS.labels(method, "success").inc()
            return result

        return counted

    return decorate


def may_log_in(record: asyncpg.Record) -> bool:
    return record["customer_state"] not in _LOCKED_STATES and record["active"] is not False
