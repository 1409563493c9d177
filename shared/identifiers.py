"""The shapes of the ids that cross service boundaries, defined once.

A tenant id is also interpolated into SQL literals (`shared.db`) and Redis keys, so its alphabet
is deliberately narrow; the API document states the same patterns (`shared.openapi`).
"""

from __future__ import annotations

import re

TENANT_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
# X-Request-ID values the suite passes on; anything else is replaced by a fresh id.
REQUEST_ID_PATTERN = "^[A-Za-z0-9._-]{1,128}$"

_TENANT_ID = re.compile(TENANT_ID_PATTERN)
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)


def is_tenant_id(value: object) -> bool:
    return isinstance(value, str) and _TENANT_ID.fullmatch(value) is not None


def is_request_id(value: object) -> bool:
    return isinstance(value, str) and _REQUEST_ID.fullmatch(value) is not None
