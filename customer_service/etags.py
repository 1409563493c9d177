"""Entity tags for one customer (API.md §6): a strong ETag on every response that carries one
customer, `If-None-Match` on reads (304) and `If-Match` on writes (412).

The tag is a digest of the representation's bytes, so it changes exactly when what a client sees
changes (a strong validator, RFC 9110 §8.8.1) and needs no column of its own: every stored change
moves `lastModifiedDate`, so an old tag never comes back. Writes check `If-Match` against the row
they hold locked (`CustomerService._change`, `.delete`), so the check and the write are atomic.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from shared.errors import InvalidInput, PreconditionFailed

# RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, in a comma-separated list.
_OPAQUE_TAG = r'"[\x21\x23-\x7e\x80-\xff]*"'
_ENTITY_TAG = re.compile(rf"\s*(W/)?({_OPAQUE_TAG})\s*(?:,|$)")
# The header as the parser below accepts it (the OpenAPI document's schema): `*`, or entity tags
# separated by commas (a trailing comma is tolerated); aiohttp strips the value's ends.
ANY_VERSION = "*"
_ONE_TAG = rf"(?:W/)?{_OPAQUE_TAG}"
ENTITY_TAG_LIST_PATTERN = rf"^{_ONE_TAG}(?:[ \t]*,[ \t]*{_ONE_TAG})*(?:[ \t]*,)?$"


def etag_of_body(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_of(customer: Mapping[str, Any]) -> str:
    """The strong ETag of a rendered customer (the digest of the bytes a response carries)."""
    return etag_of_body(orjson.dumps(customer))


def _entity_tags(header: str, name: str) -> list[tuple[bool, str]]:
    """(weak, opaque tag) of each entity tag in an If-Match / If-None-Match list; 400 if none
    parse (a client sending garbage should learn so, not get a silent 412)."""
    tags: list[tuple[bool, str]] = []
    position = 0
    while position < len(header):
        match = _ENTITY_TAG.match(header, position)
        if match is None or match.end() == position:
            raise InvalidInput(
                f"{name} is not a list of entity tags.",
                errors={name: ['Expected "*" or a comma-separated list of quoted entity tags.']},
            )
        tags.append((match.group(1) is not None, match.group(2)))
        position = match.end()
    if not tags:
        raise InvalidInput(f"{name} is empty.", errors={name: ["Must not be empty."]})
    return tags


@dataclass(frozen=True, slots=True)
class IfMatch:
    """A parsed `If-Match`: `*` (any current version) or the tags one of which must be current."""

    any_version: bool
    tags: frozenset[str]

    def check(self, current: Mapping[str, Any]) -> None:
        """412 unless the customer `current` (rendered) is a version the client named. Strong
        comparison (RFC 9110 §13.1.1): a weak tag never matches."""
        if self.any_version or etag_of(current) in self.tags:
            return
        raise PreconditionFailed(
            "The customer has changed since the version named in If-Match; read it again.",
            errors={"If-Match": ["Does not match the current ETag."]},
        )


def if_match(request: web.Request) -> IfMatch | None:
    """The request's `If-Match`, or None when it sent none."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    if header.strip() == ANY_VERSION:
        return IfMatch(any_version=True, tags=frozenset())
    tags = frozenset(tag for weak, tag in _entity_tags(header, "If-Match") if not weak)
    return IfMatch(any_version=False, tags=tags)


def _none_match(request: web.Request, etag: str) -> bool:
    """True when `If-None-Match` names `etag` (weak comparison, RFC 9110 §13.1.2) or is `*`."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    if header.strip() == ANY_VERSION:
        return True
    return any(tag == etag for _weak, tag in _entity_tags(header, "If-None-Match"))


def customer_response(
    request: web.Request, customer: Mapping[str, Any], *, status: int = 200
) -> web.Response:
    """One customer as JSON with its ETag; a GET whose If-None-Match names it gets 304."""
    body = orjson.dumps(customer)
    etag = etag_of_body(body)
    headers = {"ETag": etag}
    if request.method in ("GET", "HEAD") and _none_match(request, etag):
        return web.Response(status=304, headers=headers)
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)
