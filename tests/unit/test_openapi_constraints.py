"""Parity of the OpenAPI document with the validators: each constraint the document states is
the one the server enforces (same bounds, same accepted values), so a client generated from
/openapi.json sends nothing the server refuses and the document is not wrong about errors."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from marshmallow import Schema, ValidationError, validate

from auth_service.scopes import grant_scopes
from customer_service.collection.params import SEPARATOR, search_of
from customer_service.etags import _entity_tags
from customer_service.v1.translate import _phone
from shared.authz import ALL_SCOPES
from shared.errors import InvalidInput
from shared.schemas import AddressSchema, CustomerSchema
from tests.support.openapi_build import build_document

FUZZ_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "local" / "schemathesis.toml"
UNSTATED = "which OpenAPI cannot state"
SESSION = "header.AccessToken"  # the shopper session's parameter in schemathesis.toml
PROBES = (
    "", " ", "a", "ab", "abc", " abc ", "x" * 256, "a\x00b", "\x1f", "AA", "de", " DE ", "Us",
    "zz", "01-01-0000", "29-02-2024", "29-02-2023", "31-04-2020", "25-10-1985", "5-1-1985",
    "00-01-2000", "01-13-2000", "+14155550123", "+1 (415) 555-0123", "14155550123", "+0",
    "*", '"a"', 'W/"a", "b"', '"a",', '"a" "b"', "a@b.com", "İİ", "a\x1fb", "customers:read",
    " customers:read  impex:write ", "nope", "customers:readx",
)  # fmt: skip


@pytest.fixture(scope="module")
def document() -> dict:
    return build_document()


def _schema(document: dict, name: str) -> dict:
    return document["components"]["schemas"][name]


def _accepts(field_schema: dict[str, Any], value: str) -> bool:
    """Whether a string `value` satisfies a (string) property schema's string constraints."""
    if "anyOf" in field_schema:
        return any(_accepts(option, value) for option in field_schema["anyOf"])
    types = field_schema.get("type", "string")
    if "string" not in (types if isinstance(types, list) else [types]):
        return False
    if "enum" in field_schema and value not in field_schema["enum"]:
        return False
    if len(value) > field_schema.get("maxLength", len(value)):
        return False
    if len(value) < field_schema.get("minLength", 0):
        return False
    pattern = field_schema.get("pattern")
    return pattern is None or re.search(pattern, value) is not None


def _loads(schema: Schema, name: str, value: str) -> bool:
    try:
        schema.load({name: value}, partial=True)
    except ValidationError as error:
        return name not in error.messages
    return True


@pytest.mark.parametrize(
    ("component", "schema"),
    [("CustomerRequest", CustomerSchema()), ("AddressRequest", AddressSchema())],
)
def test_every_string_field_accepts_exactly_what_its_validator_accepts(
    document: dict, component: str, schema: Schema
) -> None:
    """Over probes at every boundary (empty, blank, too long, NUL, unknown country codes in any
    case, impossible dates, ...), the document's constraints and the marshmallow field agree,
    except email syntax (format: email) and dates in the future (stated in the description)."""
    properties = _schema(document, component)["properties"]
    assert set(properties) == set(schema.fields)
    for name, _field in schema.fields.items():
        prop = properties[name]
        if "string" not in str(prop.get("type")) or prop.get("format") == "email":
            continue
        for value in PROBES:
            assert _accepts(prop, value) == _loads(schema, name, value), (component, name, value)


def test_lengths_enums_and_bounds_come_from_the_fields(document: dict) -> None:
    """maxLength, minLength (identifiers), enums and list/map bounds are the fields' own."""
    customer = _schema(document, "CustomerRequest")["properties"]
    for name, field in CustomerSchema().fields.items():
        prop = customer[name]
        if hasattr(field, "max_length"):
            assert prop["maxLength"] == field.max_length, name
        if getattr(field, "min_length", 0):
            assert prop["minLength"] == field.min_length, name
        for validator in field.validators:
            if isinstance(validator, validate.OneOf):
                assert set(prop["enum"]) - {None} == set(validator.choices), name
    assert customer["customerRef"]["minLength"] == 1
    assert customer["addresses"]["maxItems"] == CustomerSchema().fields["addresses"].max_items
    assert "null" in customer["addresses"]["type"] and customer["email"]["type"] == "string"


def test_if_match_search_phone_and_scope_patterns_match_their_parsers(document: dict) -> None:
    """The header, search-body, v1 phone and OAuth scope patterns agree with the parsers."""
    path = document["paths"]["/services/customerservice/api/v2/customers/{id}"]
    if_match = next(p for p in path["delete"]["parameters"] if p.get("name") == "If-Match")
    for value in PROBES:
        try:
            parsed = value.strip() == "*" or bool(_entity_tags(value, "If-Match"))
        except InvalidInput:
            parsed = False
        assert _accepts(if_match["schema"], value) == parsed, value

    search = _schema(document, "CustomerSearchRequest")
    constraint = search["anyOf"][1]["properties"]["query"]
    for value in PROBES:
        try:
            search_of({"query": value})
            accepted = True
        except InvalidInput:
            accepted = False
        in_document = _accepts(search["properties"]["query"], value) and _accepts(constraint, value)
        assert in_document == accepted, value
    assert SEPARATOR not in "".join(p for p in PROBES if _accepts(constraint, p))
    for name in ("email", "mobile", "storeUid"):  # the exact criteria: lengths and blanks
        for value in (*PROBES, "x" * 255):
            try:
                search_of({name: value})
                accepted = True
            except InvalidInput:
                accepted = False
            assert _accepts(search["properties"][name], value) == accepted, (name, value)

    phone = _schema(document, "V1CustomerRequest")["properties"]["phone"]
    for value in PROBES:
        try:
            _phone(value)
            accepted = True
        except ValueError:
            accepted = False
        assert _accepts(phone, value) == accepted, value

    scope = _schema(document, "TokenRequest")["properties"]["scope"]
    for value in PROBES:
        try:
            grant_scopes(ALL_SCOPES, value)
            accepted = True
        except Exception:
            accepted = False
        assert _accepts(scope, value) == accepted, value


def test_oauth_endpoints_require_client_authentication(document: dict) -> None:
    """token, revoke and introspect declare HTTP Basic client authentication, not optional."""
    oidc = "/auth/realms/{tenant}/protocol/openid-connect"
    for path in (f"{oidc}/token", f"{oidc}/revoke", f"{oidc}/token/introspect"):
        assert document["paths"][path]["post"]["security"] == [{"clientBasic": []}], path


def _excluded_by_fuzz_config(document: dict) -> set[tuple[str, str]]:
    """(method, path) of the operations whose positive_data_acceptance check `make fuzz` turns
    off, matched as Schemathesis matches its include-path/-method filters."""
    config = tomllib.loads(FUZZ_CONFIG.read_text(encoding="utf-8"))
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    excluded = set()
    for entry in config.get("operations", []):
        if entry.get("checks", {}).get("positive_data_acceptance", {}).get("enabled") is not False:
            continue
        for method, path in operations:
            if "include-path" in entry and path != entry["include-path"]:
                continue
            if "include-path-regex" in entry and not re.search(entry["include-path-regex"], path):
                continue
            if "include-method" in entry and method != entry["include-method"]:
                continue
            if "include-method-regex" in entry and not re.search(
                entry["include-method-regex"], method, re.IGNORECASE
            ):
                continue
            excluded.add((method, path))
    return excluded


def test_fuzzing_excludes_exactly_the_rules_the_document_cannot_state(document: dict) -> None:
    """deploy/local/schemathesis.toml turns off "a schema-valid request is accepted" for exactly
    the operations whose description states a rule OpenAPI cannot (Operation.unstated)."""
    unstated = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters" and UNSTATED in operation.get("description", "")
    }
    assert len(unstated) >= 10
    assert _excluded_by_fuzz_config(document) == unstated


def test_fuzzing_sends_the_shopper_session_to_every_session_operation_but_logout(
    document: dict,
) -> None:
    """The operations taking an AccessToken header get the registered shopper's session, except
    logout (which would end it for the rest of the run)."""
    config = tomllib.loads(FUZZ_CONFIG.read_text(encoding="utf-8"))
    (entry,) = [e for e in config["operations"] if SESSION in e.get("parameters", {})]
    with_session = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
        and any(p.get("name") == "AccessToken" for p in operation.get("parameters", []))
    }
    given = {(m, p) for m, p in with_session if re.search(entry["include-path-regex"], p)}
    assert with_session - given == {("POST", "/services/customerservice/api/v2/shoppers/logout")}
    assert entry["parameters"][SESSION] == "${FUZZ_SHOPPER_SESSION}"
