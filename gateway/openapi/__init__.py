"""The suite's OpenAPI 3.1 document, generated from the services' route tables and schemas."""

from gateway.openapi.document import build_document
from gateway.openapi.routes import (
    PublicOperation,
    RouteTableInvalid,
    RouteTables,
    RouteTablesUnavailable,
    fetch_route_tables,
    public_operations,
)

__all__ = [
    "PublicOperation",
    "RouteTableInvalid",
    "RouteTables",
    "RouteTablesUnavailable",
    "build_document",
    "fetch_route_tables",
    "public_operations",
]
