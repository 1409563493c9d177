"""The OpenAPI document is generated from the services' real route tables and schemas, by a
build step (deploy/local/openapi.py) whose output, gateway/openapi.json, the gateway serves."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from openapi_spec_validator import validate

from auth_service.app import create_app as create_auth_app
from customer_service.app import create_app as create_customer_app
from gateway.public_api import DOCUMENT_PATH, PublicApi
from shared.authz import TENANT_HEADER
from shared.openapi.document import build_document as assemble
from shared.schemas import CustomerSchema
from shared.settings import Settings
from tests.support.openapi_build import build_document, builder

SETTINGS = Settings()
METHODS = {"get", "put", "post", "delete", "patch"}
_OPERATIONAL = {"/healthz", "/readyz", "/metrics"}


@pytest.fixture(scope="module")
def document() -> dict:
    return build_document()


def test_the_committed_document_is_what_the_build_step_writes(document: dict) -> None:
    """gateway/openapi.json is up to date with the route tables and schemas: after a change to
    either, `make openapi` rewrites it (and the diff shows the API change)."""
    committed = DOCUMENT_PATH.read_text(encoding="utf-8")
    assert committed == builder().render(document), "out of date: run `make openapi`"


def test_the_gateway_imports_no_service() -> None:
    """The gateway serves the document without importing customer_service, auth_service or
    impex_worker (ARCHITECTURE.md: no service imports another)."""
    code = (
        "import json, sys, gateway.app, gateway.__main__, gateway.public_api\n"
        "services = ('customer_service', 'auth_service', 'impex_worker')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in services)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []


def _registered_public_routes() -> set[tuple[str, str]]:
    """(method, public path) of every route the services register, mapped independently of the
    generator: the gateway's prefixes, trailing slash dropped, regex placeholders named."""
    found = set()
    for app in (create_customer_app(SETTINGS), create_auth_app(SETTINGS)):
        for route in app.router.routes():
            path = route.resource.canonical if route.resource else None
            if path is None or route.method == "HEAD" or path in _OPERATIONAL:
                continue
            path = re.sub(r"\{([^{}:]+):[^{}]*\}", r"{\1}", path).rstrip("/")
            if path.startswith("/api/import"):
                path = "/services/impex" + path
            elif path.startswith("/api/"):
                path = "/services/customerservice" + path
            found.add((route.method.lower(), path))
    return found


def _documented(document: dict) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_registered_route_is_documented_and_nothing_else(document: dict) -> None:
    """Each route customer_service and auth_service register appears under its public path,
    and the document lists no operation they do not serve."""
    assert _documented(document) == _registered_public_routes()


def test_document_is_valid_openapi_3_1(document: dict) -> None:
    """The document passes the OpenAPI 3.1 schema and names its version."""
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_service_operations_need_a_bearer_token_and_the_tenant_header(document: dict) -> None:
    """Every /services operation declares the bearer scheme, the tenant header and problem
    responses; the auth endpoints declare no bearer token."""
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    tenant = document["components"]["parameters"]["Tenant"]
    assert tenant["name"] == TENANT_HEADER and tenant["in"] == "header" and tenant["required"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            if path.startswith("/services/"):
                assert operation["security"] == [{"bearerAuth": []}], (method, path)
                assert {"$ref": "#/components/parameters/Tenant"} in operation["parameters"]
                assert operation["responses"]["401"]["$ref"].endswith("/Problem401")
            else:
                assert path.startswith("/auth/")
                assert {"bearerAuth": []} not in operation.get("security", [])


def test_customer_bodies_use_the_shared_customer_schema(document: dict) -> None:
    """POST /customers takes the very schema the API validates with (email required)."""
    operation = document["paths"]["/services/customerservice/api/v2/customers"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/CustomerRequest"}
    schema = document["components"]["schemas"]["CustomerRequest"]
    assert set(schema["properties"]) == set(CustomerSchema().fields)
    assert schema["required"] == ["email"]
    assert schema["properties"]["addresses"]["maxItems"] == 50
    assert schema["properties"]["firstName"]["maxLength"] == 255
    created = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/Customer"}
    errors = document["components"]["responses"]["Problem400"]["content"]
    assert errors["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_a_route_without_a_table_row_is_described_generically() -> None:
    """A route added by a service appears at once, described by its method and path."""

    async def handler(_request: web.Request) -> web.Response:
        return web.Response()

    def apps(_settings: Settings):
        app = web.Application()
        app.router.add_post("/api/import/batch/{batch_id}/retry/", handler)
        app.router.add_get("/healthz", handler)
        return [("customer_service", app)]

    operations = builder().public_operations(SETTINGS, apps)
    document = assemble(operations, [])
    assert list(document["paths"]) == ["/services/impex/api/import/batch/{batch_id}/retry"]
    operation = document["paths"]["/services/impex/api/import/batch/{batch_id}/retry"]["post"]
    assert operation["summary"].startswith("POST /services/impex/api/import/batch/")
    assert operation["security"] == [{"bearerAuth": []}]
    assert "2XX" in operation["responses"] and "401" in operation["responses"]
    validate(document)


def test_operation_ids_are_unique(document: dict) -> None:
    ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in METHODS
    ]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (
            "/services/customerservice/api/v2/customers/search",
            "/services/customerservice/api/v2/customers/search",
        ),
        (
            "/services/customerservice/api/v2/customers/ann@example.com/email/",
            "/services/customerservice/api/v2/customers/{email}/email",
        ),
        (
            "/services/customerservice/api/v2/customers/id=42",
            "/services/customerservice/api/v2/customers/id={id}",
        ),
        (
            "/auth/realms/acme/protocol/openid-connect/token",
            "/auth/realms/{tenant}/protocol/openid-connect/token",
        ),
        ("/services/customerservice/nothing/here", None),
    ],
)
def test_proxied_requests_are_labelled_by_public_route_template(path, template) -> None:
    """Metric labels are templates (no emails or ids), the most literal template winning."""
    api = PublicApi()
    assert api.route_of(path) is None  # nothing before it is built
    api.build()
    assert api.route_of(path) == template


def test_every_documented_path_is_labelled_by_its_most_literal_template() -> None:
    """The one combined pattern gives what matching each template on its own would: for a path
    made from every documented template, the most literal template that matches it."""
    api = PublicApi()
    api.build()
    templates = list(json.loads(DOCUMENT_PATH.read_bytes())["paths"])

    def alone(template: str) -> re.Pattern[str]:
        parts = re.split(r"(\{[^{}]*\})", template)
        return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))

    def literal_length(template: str) -> int:
        return len(re.sub(r"\{[^{}]*\}", "", template))

    for template in templates:
        for value in ("x1", "search", "ann@example.com"):
            path = re.sub(r"\{[^{}]*\}", value, template)
            matching = [t for t in templates if alone(t).fullmatch(path)]
            expected = min(matching, key=lambda t: (-literal_length(t), t))
            assert api.route_of(path) == expected, path
            assert api.route_of(path + "/") == expected, path
    assert len(templates) > 20


_SAMPLES = {"tenant": "acme", "email": "ann@example.com"}
_SAMPLE_UUID = "e3e70682-c209-4cac-a29f-6fbed82c07cd"


async def test_a_405_allows_exactly_the_documented_methods(document: dict) -> None:
    """An undocumented method on any documented path is a 405 whose Allow header lists exactly
    the methods the document gives that path (and HEAD beside GET): a literal path such as
    /customers/validate never falls through to /customers/{id}."""
    apps = dict(builder()._service_apps(SETTINGS))
    upstream = {op.public_path: op for op in builder().public_operations(SETTINGS)}
    for path, item in document["paths"].items():
        op = upstream[path]
        concrete = re.sub(
            r"\{([^{}]+)\}",
            lambda m: _SAMPLES.get(m[1], _SAMPLE_UUID if "id" in m[1].lower() else "ref1"),
            op.upstream_path,
        )
        request = make_mocked_request("OPTIONS", concrete, app=apps[op.service])
        match = await apps[op.service].router.resolve(request)
        documented = {method.upper() for method in item if method in METHODS}
        if "GET" in documented:
            documented.add("HEAD")
        assert isinstance(match.http_exception, web.HTTPMethodNotAllowed), path
        assert set(match.http_exception.allowed_methods) == documented, path
