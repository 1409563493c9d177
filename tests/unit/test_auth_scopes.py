"""Which scopes a token gets, and which a CLI `--scopes` accepts."""

from __future__ import annotations

import pytest

from auth_service.errors import InvalidScope
from auth_service.scopes import grant_scopes, parse_scopes
from shared.authz import ALL_SCOPES


def test_no_requested_scope_grants_all_of_the_clients() -> None:
    """Without `scope` (or with an empty one) the token gets every scope of the client."""
    assert grant_scopes(ALL_SCOPES, None) == ALL_SCOPES
    assert grant_scopes(("impex:read",), "  ") == ("impex:read",)


def test_requested_subset_is_granted_in_the_clients_order_without_duplicates() -> None:
    """A subset is granted exactly once each, in a stable order."""
    assert grant_scopes(ALL_SCOPES, "impex:read customers:read impex:read") == (
        "customers:read",
        "impex:read",
    )


def test_a_scope_the_client_lacks_is_invalid_scope() -> None:
    """Asking for anything beyond the client's scopes is refused, naming the scope."""
    with pytest.raises(InvalidScope, match="customers:write"):
        grant_scopes(("customers:read",), "customers:read customers:write")


def test_cli_scopes_are_validated_and_ordered() -> None:
    """`--scopes` accepts known scopes only, and at least one."""
    assert parse_scopes("impex:write customers:read") == ("customers:read", "impex:write")
    with pytest.raises(ValueError, match="unknown scope"):
        parse_scopes("customers:read admin")
    with pytest.raises(ValueError, match="at least one"):
        parse_scopes(" ")
