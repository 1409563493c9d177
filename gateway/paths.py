"""Refusing paths with dot segments before the gateway routes them.

The gateway routes by prefix and passes the rest of the path on as sent; a `..` segment would
make a service resolve a path outside the prefix it was routed under (`/auth/../metrics` is
auth_service's metrics, and `/auth` needs no token). Services and the libraries between them
disagree on which encodings they decode (`%2e%2e`, `%252e`, `..%2f`, `\\`), so the gateway
decodes as far as any of them might and refuses whatever would climb, rather than normalise.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from shared.errors import InvalidInput

_DOT_SEGMENTS = frozenset({".", ".."})
# Both separators: some servers and path libraries treat a backslash as one.
_SEPARATORS = re.compile(r"[/\\]")
# Decoding more often than this and still finding `%` escapes that decode is an attack, not a
# customerRef: such a path is refused as well.
_MAX_DECODES = 4


def has_dot_segment(raw_path: str) -> bool:
    """True when `raw_path` (a request target, query ignored) has a `.` or `..` segment, as
    written or after percent-decoding it once or several times."""
    path = raw_path.split("?", 1)[0]
    if "." not in path and "%" not in path:
        return False  # no dot, and nothing that could decode to one: most requests
    for _ in range(_MAX_DECODES + 1):
        if any(segment in _DOT_SEGMENTS for segment in _SEPARATORS.split(path)):
            return True
        decoded = unquote(path)
        if decoded == path:
            return False
        path = decoded
    return True


@web.middleware
async def refuse_dot_segments(request: web.Request, handler: Any) -> web.StreamResponse:
    # raw_path is the request target exactly as received, before anything normalised it.
    if has_dot_segment(request.raw_path):
        raise InvalidInput(
            "The path must not contain '.' or '..' segments, plain or percent-encoded.",
            errors={"_path": ["Dot segments are not allowed."]},
        )
    return await handler(request)
