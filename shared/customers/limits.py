"""How large a stored customer may grow, checked on the state about to be written (after a PUT's
merge, or an import record's): the schema bounds one request, this bounds what it adds up to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from shared.customers.representation import split_state
from shared.errors import InvalidInput
from shared.schemas import MAX_ATTRIBUTE_GROUPS, MAX_PROFILE_BYTES


def limit_errors(state: Mapping[str, Any]) -> dict[str, list[str]]:
    """The caps `state` breaks, by the field to fix ({} when none): more than
    MAX_ATTRIBUTE_GROUPS groups, or a profile over MAX_PROFILE_BYTES (named by its largest
    field). Attributes per group need no check here: a sent group replaces the stored one."""
    errors: dict[str, list[str]] = {}
    groups = state.get("attributeGroups") or {}
    if len(groups) > MAX_ATTRIBUTE_GROUPS:
        errors["attributeGroups"] = [
            f"At most {MAX_ATTRIBUTE_GROUPS} attribute groups are allowed; with the stored "
            f"ones this makes {len(groups)} (remove groups by setting them to null)."
        ]
    _columns, profile = split_state(state)
    size = len(orjson.dumps(profile))
    if size > MAX_PROFILE_BYTES:
        largest = max(profile, key=lambda field: len(orjson.dumps(profile[field])))
        errors.setdefault(largest, []).append(
            f"The stored profile may be at most {MAX_PROFILE_BYTES} bytes as JSON; this would "
            f"make it {size}, and this field is its largest part."
        )
    return errors


def check_limits(state: Mapping[str, Any]) -> None:
    """`limit_errors` as a 400."""
    errors = limit_errors(state)
    if errors:
        raise InvalidInput("The customer would exceed its size limits.", errors=errors)
