"""The vocabulary of the OpenAPI document's hand-written part: operation rows (what a route
table cannot tell), their parameters and links, the tags, and what each service contributes.

Rows are keyed by method and upstream path template with the placeholder names blanked
(`/api/v2/customers/{}`), so a route keeps its row whatever its handler calls the parameter.
Routes a service registers without a row still appear in the document, described generically;
a row without a registered route is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema

from shared.identifiers import TENANT_ID_PATTERN

CUSTOMERS_TAG = "customers"
NOTES = "notes"
IMPORTS = "imports"
SHOPPERS = "shoppers"
ORDERS = "orders"
V1 = "customers-v1"
AUTH = "auth"
TAGS = (
    {"name": AUTH, "description": "Client-credentials tokens, JWKS, discovery (Keycloak style)."},
    {"name": CUSTOMERS_TAG, "description": "The TWC Customer API v2."},
    {"name": NOTES, "description": "Notes about a customer."},
    {"name": IMPORTS, "description": "Asynchronous imports of customer records (batches)."},
    {
        "name": SHOPPERS,
        "description": "Shopper accounts: the storefront logs its shoppers in (scope "
        "shoppers:auth; admin routes shoppers:admin). The shopper's session is an opaque token "
        "in the AccessToken header, beside the storefront's own bearer token.",
    },
    {"name": ORDERS, "description": "Order facts behind the customers' computed spend fields."},
    {"name": V1, "description": "TWC's v1 Shopify-style customers, over the same customers."},
)


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    description: str
    schema: dict[str, Any]
    required: bool = False


@dataclass(frozen=True, slots=True)
class Link:
    """An OpenAPI link: values of the success response feed another operation (so clients, and
    Schemathesis' stateful phase, can follow create → read → change → delete)."""

    name: str
    method: str
    path: str  # the target's table path ({} placeholders)
    path_values: tuple[str, ...] = ()  # runtime expressions, one per placeholder, in order
    query: tuple[tuple[str, str], ...] = ()
    body: tuple[tuple[str, str], ...] = ()  # members of a JSON body (runtime expressions)


@dataclass(frozen=True, slots=True)
class Operation:
    """What the route table cannot tell: words, body schemas, the success status."""

    summary: str
    tag: str
    success: int = 200
    # Component names; "X[]" is an array of X ("X[1..100]" of 1 to 100, "X[1..]" at least 1),
    # "X|Y" either. `body` is JSON, `form` urlencoded.
    body: str | None = None
    body_required: bool = True
    form: str | None = None
    upload: bool = False  # a raw file body (CSV, NDJSON or a JSON array)
    response: str | None = None
    query: tuple[Param, ...] = ()
    problems: tuple[int, ...] = ()  # statuses beyond the defaults of its kind (see builder)
    description: str = ""
    headers: tuple[Param, ...] = ()  # request headers beyond the tenant's
    location: bool = False  # answers a Location header
    links: tuple[Link, ...] = ()
    also: tuple[int, ...] = ()  # other success statuses answering the same response
    # A rule the server enforces that OpenAPI 3.1 cannot state (so a schema-valid request can
    # still get a 400): said in the description; `make fuzz` excludes exactly its
    # positive_data_acceptance check (deploy/local/schemathesis.toml, a test keeps them equal).
    unstated: str = ""


def _text(max_length: int = 255) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


UUID = {"type": "string", "format": "uuid"}

# Path parameters by name; any other name is a non-empty string.
PATH_PARAMS: dict[str, tuple[str, dict[str, Any]]] = {
    "id": ("An id (UUID); anything else is simply not found.", UUID),
    "address_id": ("The address id (UUID).", UUID),
    "note_id": ("The note id (UUID).", UUID),
    "customer_id": ("The customer's id (UUID).", UUID),
    "batch_id": ("The batch id (UUID).", UUID),
    "tenant": ("The tenant (realm) id.", {"type": "string", "pattern": TENANT_ID_PATTERN}),
    "customerRef": ("The customer's customerRef.", _text()),
    "alternateCustomerRef": ("The customer's alternateCustomerRef.", _text()),
    "email": ("The customer's email (case-insensitive).", _text()),
}


@dataclass(frozen=True, slots=True, order=True)
class PublicOperation:
    """A route as the gateway exposes it (see deploy/local/openapi.py)."""

    public_path: str  # OpenAPI path template, e.g. /services/customerservice/api/v2/customers/{id}
    method: str  # upper case
    upstream_path: str  # the template the service registered (trailing slash dropped)
    service: str
    authenticated: bool


@dataclass(frozen=True)
class ServiceApi:
    """What one service contributes to the document: its operation rows and the schemas they
    name (marshmallow schemas, raw JSON Schemas, and constraints marshmallow cannot say)."""

    operations: dict[tuple[str, str], Operation]
    components: dict[str, type[Schema] | Schema]
    raw_components: dict[str, dict[str, Any]] = field(default_factory=dict)
    constraints: dict[str, dict[str, Any]] = field(default_factory=dict)


_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def row_key(method: str, upstream_path: str) -> tuple[str, str]:
    """The table key of a route: placeholder names (and regexes) blanked."""
    return method.upper(), _PLACEHOLDER.sub("{}", upstream_path)
