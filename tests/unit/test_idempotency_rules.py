"""The I/O-free parts of Idempotency-Key (API.md §6) and of entity tags."""

from __future__ import annotations

import pytest

from customer_service.etags import etag_of
from customer_service.idempotency import fingerprint, parse_key
from shared.errors import InvalidInput


@pytest.mark.parametrize("key", ["a", "x" * 255, "order 42/retry#1", "~!@"])
def test_printable_keys_of_1_to_255_are_taken(key):
    assert parse_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * 256, "line\nbreak", "tab\t", "naïve", "\x7f"])
def test_other_keys_are_a_400_naming_the_header(key):
    with pytest.raises(InvalidInput) as caught:
        parse_key(key)
    assert "Idempotency-Key" in caught.value.errors


def test_the_fingerprint_tells_requests_apart_but_not_a_trailing_slash():
    base = ("POST", "/api/v2/customers", "", "application/json", b'{"email":"a@b.c"}')
    assert fingerprint(*base) == fingerprint("POST", "/api/v2/customers/", *base[2:])
    for changed in (
        ("POST", "/api/v2/customers/validate", *base[2:]),
        ("POST", base[1], "x=1", *base[3:]),
        ("POST", base[1], "", "text/csv", base[4]),
        (*base[:4], b'{"email":"z@b.c"}'),
    ):
        assert fingerprint(*changed) != fingerprint(*base)
    # Parts cannot run into each other.
    assert fingerprint("POST", "/a", "b", "", b"") != fingerprint("POST", "/ab", "", "", b"")


def test_etags_are_strong_and_follow_the_representation():
    tag = etag_of({"id": "1", "firstName": "A"})
    assert tag.startswith('"') and tag.endswith('"')
    assert tag == etag_of({"id": "1", "firstName": "A"})
    assert tag != etag_of({"id": "1", "firstName": "B"})
