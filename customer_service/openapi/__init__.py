"""customer_service's part of the OpenAPI document (deploy/local/openapi.py puts every
service's part together into gateway/openapi.json)."""

from customer_service.openapi.collection import (
    COLLECTION_COMPONENTS,
    COLLECTION_CONSTRAINTS,
    COLLECTION_OPERATIONS,
)
from customer_service.openapi.operations import OPERATIONS
from customer_service.openapi.schemas import COMPONENT_CONSTRAINTS, COMPONENTS, RAW_COMPONENTS
from shared.openapi.table import ServiceApi

API = ServiceApi(
    operations={**OPERATIONS, **COLLECTION_OPERATIONS},
    components={**COMPONENTS, **COLLECTION_COMPONENTS},
    raw_components=RAW_COMPONENTS,
    constraints={**COMPONENT_CONSTRAINTS, **COLLECTION_CONSTRAINTS},
)

__all__ = ["API"]
