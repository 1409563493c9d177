"""How a client presents its credentials: HTTP Basic (`client_secret_basic`) or form fields
(`client_secret_post`), never both."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from auth_service.errors import InvalidClient, InvalidRequest

# Generous for ours (`<tenant>-<16 hex>`, 43-char secrets) and small enough that nobody makes us
# hash megabytes.
MAX_CREDENTIAL_LENGTH = 256


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    secret: str
    via_basic: bool

    def __repr__(self) -> str:  # never let the secret reach a log line or a traceback
        return f"ClientCredentials(client_id={self.client_id!r}, via_basic={self.via_basic})"


def basic_challenge(tenant: str) -> dict[str, str]:
    return {"WWW-Authenticate": f'Basic realm="{tenant}"'}


def parse_basic(authorization: str, tenant: str) -> tuple[str, str] | None:
    """(client_id, secret) of an `Authorization: Basic …` header; None for another scheme.

    RFC 6749 §2.3.1: both parts are form-urlencoded before base64. A malformed Basic header is a
    failed client authentication (401 with a Basic challenge)."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidClient(
            "The Basic authorization header is malformed.", headers=basic_challenge(tenant)
        ) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise InvalidClient(
            "The Basic authorization header is malformed.", headers=basic_challenge(tenant)
        )
    return unquote_plus(client_id), unquote_plus(secret)


def client_credentials(
    authorization: str | None, form: Mapping[str, str], tenant: str
) -> ClientCredentials:
    """The credentials of a request, from its Authorization header or its form fields."""
    basic = parse_basic(authorization, tenant) if authorization else None
    if basic is not None:
        client_id, secret = basic
        if "client_secret" in form:
            raise InvalidRequest("Use one client authentication method, not two.")
        # Some clients also send their id in the body; harmless if it is the same one.
        if form.get("client_id", client_id) != client_id:
            raise InvalidRequest("client_id differs from the Basic credentials.")
        credentials = ClientCredentials(client_id, secret, via_basic=True)
    else:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if not client_id:
            raise InvalidRequest("The client_id parameter is required.")
        if not secret:
            raise InvalidRequest("The client_secret parameter is required.")
        credentials = ClientCredentials(client_id, secret, via_basic=False)
    if len(credentials.client_id) > MAX_CREDENTIAL_LENGTH or (
        len(credentials.secret) > MAX_CREDENTIAL_LENGTH
    ):
        raise InvalidClient(headers=basic_challenge(tenant) if credentials.via_basic else None)
    return credentials
