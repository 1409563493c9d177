"""Builds the OpenAPI 3.1 document from the public operations (the services' routes as the gateway
exposes them) and each service's part (its operation rows and schemas)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from shared.authz import TENANT_HEADER, required_scope
from shared.identifiers import TENANT_ID_PATTERN
from shared.openapi.base import OAuthErrorOut, Problem, custom_field_properties
from shared.openapi.table import (
    PATH_PARAMS,
    TAGS,
    Link,
    Operation,
    Param,
    PublicOperation,
    ServiceApi,
    row_key,
)
from shared.schemas.patterns import NO_NUL

TITLE = "Customer suite API"
VERSION = "2.0.0"
PROBLEM_JSON = "application/problem+json"
FORM = "application/x-www-form-urlencoded"
UPLOAD_TYPES = ("text/csv", "application/x-ndjson", "application/json")
BEARER = "bearerAuth"
CLIENT_BASIC = "clientBasic"

_DESCRIPTION = f"""\
The public API of the customer suite, as served by its gateway. Generated from the services'
route tables and marshmallow schemas.

1. Get a token: `POST /auth/realms/{{tenant}}/protocol/openid-connect/token` with
   `grant_type=client_credentials`, your `client_id` and `client_secret`.
2. **Authorize** with the `access_token` (bearer), and send `{TENANT_HEADER}: <tenant>` on every
   `/services/...` call.

Errors are `application/problem+json` (RFC 9457); the OAuth endpoints answer RFC 6749 errors.
An `X-Request-ID` header (1-128 of `[A-Za-z0-9._-]`) is kept, otherwise one is generated; it
comes back on every response. A trailing slash on a path is ignored.
"""

# Problem responses (components `Problem<status>`): status -> description.
_PROBLEMS = {
    400: "The input is invalid; `errors` names each field.",
    401: "No token, or an invalid, expired or revoked one.",
    403: f"The {TENANT_HEADER} header does not name the token's tenant, or a scope is missing.",
    404: "No such resource (also for malformed ids and other tenants' ids).",
    408: "The body stopped arriving (an upload silent for `UPLOAD_READ_TIMEOUT_SECONDS`).",
    409: "A unique field is taken; `errors` names it.",
    412: "If-Match names a version that is no longer current; nothing changed.",
    422: "This Idempotency-Key was used with a different request.",
    413: "The body is too large.",
    415: "The body is not JSON.",
    429: "Rate limited, or too many uploads of the tenant at once; retry after `Retry-After` "
    "seconds.",
    503: "A dependency is down; retry later.",
}
_OAUTH_ERRORS = {
    400: "invalid_request, unsupported_grant_type or invalid_scope.",
    401: "invalid_client: unknown client or wrong secret.",
    429: "slow_down: too many failed client authentications.",
    503: "temporarily_unavailable.",
}
_AUTH_REALM_PROBLEMS = (404,)


def build_document(
    operations: Sequence[PublicOperation], apis: Sequence[ServiceApi]
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `operations`, described by the services' `apis`."""
    plugin = _marshmallow_plugin()
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.1.0",
        plugins=[plugin],
        info={"description": _DESCRIPTION},
        tags=list(TAGS),
    )
    # The plugin's converter exists once the spec is built.
    plugin.converter.add_attribute_function(custom_field_properties)
    spec.components.schema("Problem", schema=Problem)
    spec.components.schema("OAuthError", schema=OAuthErrorOut)
    rows: dict[tuple[str, str], Operation] = {}
    for api in apis:
        for name, schema in api.components.items():
            spec.components.schema(name, api.constraints.get(name), schema=schema)
        for name, definition in api.raw_components.items():
            spec.components.schema(name, definition)
        rows.update(api.operations)
    _add_common_components(spec)
    index = {row_key(op.method, op.upstream_path): op for op in operations}
    by_path: dict[str, dict[str, Any]] = {}
    for op in sorted(operations):
        row = rows.get(row_key(op.method, op.upstream_path))
        by_path.setdefault(op.public_path, {})[op.method.lower()] = _operation(op, row, index)
    for path, methods in by_path.items():
        spec.path(path=path, operations=methods, parameters=_path_parameters(path))
    document = spec.to_dict()
    refuse_nul_everywhere(document)
    return document


def _marshmallow_plugin() -> MarshmallowPlugin:
    # Every schema is registered by name up front; anything else falls back to its class name.
    return MarshmallowPlugin(schema_name_resolver=lambda schema: _class_of(schema).__name__)


def _class_of(schema: Any) -> type:
    return schema if isinstance(schema, type) else type(schema)


def _add_common_components(spec: APISpec) -> None:
    spec.components.security_scheme(
        BEARER,
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from the token endpoint.",
        },
    )
    spec.components.security_scheme(
        CLIENT_BASIC,
        {
            "type": "http",
            "scheme": "basic",
            "description": "Client authentication (client_id:client_secret), required by the "
            "token, revocation and introspection endpoints; instead of it, a client may send "
            "client_id and client_secret as form fields (RFC 6749 §2.3.1), never both. With "
            "neither: 401 invalid_client.",
        },
    )
    spec.components.parameter(
        "Tenant",
        "header",
        {
            "name": TENANT_HEADER,
            "required": True,
            "description": "The tenant of the access token.",
            "schema": {"type": "string", "pattern": TENANT_ID_PATTERN},
        },
    )
    spec.components.parameter(
        "IdempotencyKey",
        "header",
        {
            "name": "Idempotency-Key",
            "required": False,
            "description": "Makes a retry safe: the same key, tenant and body within 24 h get "
            "the first answer again (header `Idempotent-Replayed: true`) and nothing is done "
            "twice; the same key with another body is a 422, a retry while the first still "
            "runs a 409. 1 to 255 printable ASCII characters.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
        },
    )
    retry_after = {"description": "Seconds to wait.", "schema": {"type": "integer"}}
    www_authenticate = {"description": "RFC 6750 challenge.", "schema": {"type": "string"}}
    for status, description in _PROBLEMS.items():
        response: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": "Problem"}},
        }
        if status == 429:
            response["headers"] = {"Retry-After": retry_after}
        if status == 401:
            response["headers"] = {"WWW-Authenticate": www_authenticate}
        spec.components.response(f"Problem{status}", response)
    spec.components.response(
        "Problem", {"description": "An error.", "content": {PROBLEM_JSON: {"schema": "Problem"}}}
    )
    for status, description in _OAUTH_ERRORS.items():
        spec.components.response(
            f"OAuthError{status}",
            {"description": description, "content": {"application/json": {"schema": "OAuthError"}}},
        )


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


_BOUNDED_ARRAY = re.compile(r"(?P<item>[^\[]+)\[(?:(?P<min>[0-9]*)\.\.(?P<max>[0-9]*))?\]")


def _schema_ref(name: str) -> dict[str, Any]:
    if "|" in name:
        return {"anyOf": [_schema_ref(part) for part in name.split("|")]}
    if name == "null":
        return {"type": "null"}
    if bounded := _BOUNDED_ARRAY.fullmatch(name):
        array: dict[str, Any] = {"type": "array", "items": _schema_ref(bounded["item"])}
        if bounded["min"]:
            array["minItems"] = int(bounded["min"])
        if bounded["max"]:
            array["maxItems"] = int(bounded["max"])
        return array
    return _ref("schemas", name)


def _path_parameters(path: str) -> list[dict[str, Any]]:
    parameters = []
    for name in re.findall(r"\{([^{}]+)\}", path):
        description, schema = PATH_PARAMS.get(name, ("", {"type": "string", "minLength": 1}))
        parameter = {"name": name, "in": "path", "required": True, "schema": schema}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _query_parameter(param: Param, where: str = "query") -> dict[str, Any]:
    return {
        "name": param.name,
        "in": where,
        "required": param.required,
        "description": param.description,
        "schema": param.schema,
    }


Index = dict[tuple[str, str], PublicOperation]


def _operation(op: PublicOperation, row: Operation | None, index: Index) -> dict[str, Any]:
    document = _known(op, row, index) if row is not None else _generic(op)
    document["operationId"] = _operation_id(op)
    if op.authenticated:
        document["security"] = [{BEARER: []}]
        document["parameters"] = ["Tenant", *document.get("parameters", [])]
        if op.method == "POST":
            document["parameters"].append("IdempotencyKey")
        scope = required_scope(op.method, op.upstream_path)
        document["description"] = f"{document.get('description', '')}\n\nScope: `{scope}`.".strip()
        _add_problems(document, op, row)
    return document


def _known(op: PublicOperation, row: Operation, index: Index) -> dict[str, Any]:
    document: dict[str, Any] = {"summary": row.summary, "tags": [row.tag]}
    if row.description:
        document["description"] = row.description
    if row.unstated:
        rule = f"Also required, which OpenAPI cannot state: {row.unstated}"
        document["description"] = f"{document.get('description', '')}\n\n{rule}".strip()
    parameters = [_query_parameter(p) for p in row.query]
    parameters += [_query_parameter(p, where="header") for p in row.headers]
    if parameters:
        document["parameters"] = parameters
    if row.body:
        document["requestBody"] = {
            "required": row.body_required,
            "content": {"application/json": {"schema": _schema_ref(row.body)}},
        }
    elif row.form:
        document["requestBody"] = {
            "required": True,
            "content": {FORM: {"schema": _schema_ref(row.form)}},
        }
    elif row.upload:
        document["requestBody"] = {
            "required": True,
            "content": {kind: {} for kind in UPLOAD_TYPES},  # any bytes: parsed by the import
        }
    success: dict[str, Any] = {"description": row.summary}
    if row.response:
        success["content"] = {"application/json": {"schema": _schema_ref(row.response)}}
    if row.location:
        success["headers"] = {
            "Location": {"description": "The batch's public path.", "schema": {"type": "string"}}
        }
    if links := _links(row.links, index):
        success["links"] = links
    document["responses"] = {str(status): success for status in (row.success, *row.also)}
    if any(header.name == "If-None-Match" for header in row.headers):
        document["responses"]["304"] = {
            "description": "If-None-Match names the current version: no body.",
            "headers": {"ETag": {"description": "The current ETag.", "schema": {"type": "string"}}},
        }
    if not op.authenticated:
        _add_auth_errors(document, op, row)
    return document


def _links(links: tuple[Link, ...], index: Index) -> dict[str, Any]:
    """OpenAPI links to the registered targets (a target not registered yet is left out)."""
    found: dict[str, Any] = {}
    for link in links:
        target = index.get(row_key(link.method, link.path))
        if target is None:
            continue
        names = re.findall(r"\{([^{}]+)\}", target.public_path)
        parameters = dict(zip(names, link.path_values, strict=True))
        parameters.update(link.query)
        found[link.name] = {"operationId": _operation_id(target)}
        if parameters:
            found[link.name]["parameters"] = parameters
        if link.body:
            found[link.name]["requestBody"] = dict(link.body)
    return found


def _generic(op: PublicOperation) -> dict[str, Any]:
    """A route without a row in the table: documented by its method and path only."""
    document: dict[str, Any] = {
        "summary": f"{op.method} {op.public_path}",
        "description": f"Registered by {op.service}; not described in detail yet.",
        "tags": [_tag_of(op)],
        "responses": {"2XX": {"description": "Success."}},
    }
    if op.method in ("POST", "PUT", "PATCH"):
        document["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {}}},
        }
    if not op.authenticated:
        document["responses"]["default"] = {"description": "An error.", "content": {}}
    return document


def _tag_of(op: PublicOperation) -> str:
    if op.public_path.startswith("/auth"):
        return "auth"
    if "/api/import" in op.public_path or "upload" in op.public_path:
        return "imports"
    if "/shoppers" in op.public_path:
        return "shoppers"
    return "notes" if "/customer/note" in op.public_path else "customers"


def _add_problems(document: dict[str, Any], op: PublicOperation, row: Operation | None) -> None:
    statuses = {400, 401, 403, 404, 429, 503}
    if "requestBody" in document:
        statuses.update({413, 415})
    if row is not None:
        statuses.update(row.problems)
    if op.method == "POST":  # Idempotency-Key: reused with another request, or still running
        statuses.update({409, 422})
    responses = document["responses"]
    for status in sorted(statuses):
        responses.setdefault(str(status), _ref("responses", f"Problem{status}"))
    responses.setdefault("default", _ref("responses", "Problem"))


def _add_auth_errors(document: dict[str, Any], op: PublicOperation, row: Operation) -> None:
    responses = document["responses"]
    if row.form:
        document["security"] = [{CLIENT_BASIC: []}]
        for status in _OAUTH_ERRORS:
            responses[str(status)] = _ref("responses", f"OAuthError{status}")
    else:
        document["security"] = []
        for status in _AUTH_REALM_PROBLEMS:
            responses[str(status)] = _ref("responses", f"Problem{status}")
    responses.setdefault("default", _ref("responses", "Problem"))


def _operation_id(op: PublicOperation) -> str:
    words = re.findall(r"[A-Za-z0-9]+", op.public_path.removeprefix("/services"))
    return op.method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


# ---------------------------------------------------------------------------------------------
# The suite refuses NUL anywhere (shared.web: any string or key of a JSON body, the path, the
# query): PostgreSQL text cannot hold it. The document says so of every string, object key and
# free-form value, as one pass over the built document.

JSON_VALUE = "JsonValue"
_JSON_VALUE_REF = {"$ref": f"#/components/schemas/{JSON_VALUE}"}
_JSON_VALUE = {
    "description": "Any JSON value holding no NUL character (in a string or a key).",
    "anyOf": [
        {"type": ["null", "boolean", "number"]},
        {"type": "string", "pattern": NO_NUL},
        {"type": "array", "items": _JSON_VALUE_REF},
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": _JSON_VALUE_REF,
        },
    ],
}
# Words that say nothing of the value: a schema of only these is free-form.
_ANNOTATIONS = frozenset(
    {"description", "title", "example", "examples", "default", "readOnly", "writeOnly"}
)


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


def _refuse_nul(schema: Any) -> None:
    """Add the no-NUL rule to `schema` and everything nested in it (in place)."""
    if not isinstance(schema, dict):
        return
    if not schema.keys() - _ANNOTATIONS:
        schema.update(_JSON_VALUE_REF)  # a free-form value
        return
    kinds = _types(schema)
    if "string" in kinds and not schema.keys() & {"pattern", "format", "enum", "const"}:
        schema["pattern"] = NO_NUL
    if "object" in kinds:
        schema.setdefault("propertyNames", {"pattern": NO_NUL})
        schema.setdefault("additionalProperties", _JSON_VALUE_REF)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict) and schema[key] is not _JSON_VALUE_REF:
            _refuse_nul(schema[key])
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, ()):
            _refuse_nul(option)
    for nested in schema.get("properties", {}).values():
        _refuse_nul(nested)


def refuse_nul_everywhere(document: dict[str, Any]) -> None:
    """The no-NUL rule on every component schema, parameter and inline request body."""
    components = document["components"]
    for name, schema in components["schemas"].items():
        if name != JSON_VALUE:
            _refuse_nul(schema)
    components["schemas"][JSON_VALUE] = _JSON_VALUE
    for parameter in components.get("parameters", {}).values():
        _refuse_nul(parameter.get("schema"))
    for item in document["paths"].values():
        for parameter in item.get("parameters", ()):
            _refuse_nul(parameter.get("schema"))
        for method, operation in item.items():
            if method == "parameters":
                continue
            for parameter in operation.get("parameters", ()):
                if "schema" in parameter:
                    _refuse_nul(parameter["schema"])
            content = operation.get("requestBody", {}).get("content", {})
            for media_type in ("application/json", FORM):
                if media_type in content:
                    _refuse_nul(content[media_type].get("schema"))
