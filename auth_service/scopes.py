"""Which scopes a token gets: a subset of the client's, in a stable order."""

from __future__ import annotations

from collections.abc import Sequence

from auth_service.errors import InvalidScope
from shared.authz import ALL_SCOPES


def parse_scopes(text: str) -> tuple[str, ...]:
    """A space-separated scope list (CLI `--scopes`), validated against the suite's scopes."""
    wanted = dict.fromkeys(text.split())
    unknown = [scope for scope in wanted if scope not in ALL_SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s): {' '.join(unknown)}; known: {' '.join(ALL_SCOPES)}")
    if not wanted:
        raise ValueError("at least one scope is required")
    return tuple(scope for scope in ALL_SCOPES if scope in wanted)


def grant_scopes(client_scopes: Sequence[str], requested: str | None) -> tuple[str, ...]:
    """The scopes to put in a token: all the client's when none are requested, else exactly the
    requested ones, each of which the client must have (else `invalid_scope`)."""
    wanted = dict.fromkeys((requested or "").split())
    if not wanted:
        return tuple(client_scopes)
    missing = [scope for scope in wanted if scope not in client_scopes]
    if missing:
        raise InvalidScope(f"Scope not granted to this client: {' '.join(missing)}.")
    return tuple(scope for scope in client_scopes if scope in wanted)
