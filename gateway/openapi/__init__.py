"""The suite's OpenAPI 3.1 document, generated from the services' route tables and schemas."""

from gateway.openapi.document import build_document
from gateway.openapi.routes import PublicOperation, public_operations

__all__ = ["PublicOperation", "build_document", "public_operations"]
