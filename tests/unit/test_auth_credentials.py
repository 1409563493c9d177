"""How client credentials are read from a request: Basic or form, never both."""

from __future__ import annotations

import base64

import pytest

from auth_service.credentials import client_credentials, parse_basic
from auth_service.errors import InvalidClient, InvalidRequest


def basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


def test_basic_credentials_are_form_url_decoded() -> None:
    """RFC 6749 §2.3.1: id and secret are urlencoded inside the Basic header."""
    assert parse_basic(basic("acme-1:a%2Bb%3Ac"), "acme") == ("acme-1", "a+b:c")


def test_other_authorization_schemes_are_not_basic() -> None:
    """A Bearer header is not a client authentication attempt."""
    assert parse_basic("Bearer abc", "acme") is None


@pytest.mark.parametrize("header", ["Basic !!!", basic("no-colon"), basic(":secret-only")])
def test_malformed_basic_is_invalid_client_with_a_challenge(header: str) -> None:
    """A broken Basic header fails authentication and answers with a Basic challenge."""
    with pytest.raises(InvalidClient) as caught:
        parse_basic(header, "acme")
    assert caught.value.headers == {"WWW-Authenticate": 'Basic realm="acme"'}


def test_form_credentials() -> None:
    """client_secret_post: both fields from the form."""
    creds = client_credentials(None, {"client_id": "c", "client_secret": "s"}, "acme")
    assert (creds.client_id, creds.secret, creds.via_basic) == ("c", "s", False)


def test_basic_with_the_same_client_id_in_the_body_is_accepted() -> None:
    """Some clients repeat their id in the body alongside Basic: harmless."""
    creds = client_credentials(basic("c:s"), {"client_id": "c"}, "acme")
    assert (creds.client_id, creds.secret, creds.via_basic) == ("c", "s", True)


@pytest.mark.parametrize(
    ("authorization", "form"),
    [
        (basic("c:s"), {"client_secret": "s"}),
        (basic("c:s"), {"client_id": "other"}),
        (None, {"client_secret": "s"}),
        (None, {"client_id": "c"}),
        (None, {"client_id": "", "client_secret": "s"}),
    ],
)
def test_two_methods_or_missing_fields_are_invalid_request(
    authorization: str | None, form: dict[str, str]
) -> None:
    """Both methods at once, a conflicting id, or a missing field: invalid_request."""
    with pytest.raises(InvalidRequest):
        client_credentials(authorization, form, "acme")


def test_oversized_credentials_are_refused_before_hashing() -> None:
    """Megabyte secrets never reach scrypt."""
    with pytest.raises(InvalidClient):
        client_credentials(None, {"client_id": "c", "client_secret": "x" * 10_000}, "acme")


def test_the_secret_never_shows_in_repr() -> None:
    """Credentials in a log line or traceback do not leak the secret."""
    creds = client_credentials(None, {"client_id": "c", "client_secret": "hunter2"}, "acme")
    assert "hunter2" not in repr(creds)
