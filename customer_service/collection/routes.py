"""Routes of the collection, batch, export and address sub-resource (API.md §7 to §9).

Added before customer_service's other routes, so the literal paths (`/customers/count`,
`/customers/batch`) win over `/customers/{id}`.
"""

from __future__ import annotations

from aiohttp import web

from customer_service import address_handlers
from customer_service.batch import handlers as batch
from customer_service.collection import handlers as collection
from customer_service.export import handlers as export
from shared.web import uuid_placeholder

# Only a UUID: `/customers/count` and the like never reach these routes.
ID = uuid_placeholder("id")


def add_collection_routes(app: web.Application, customers: str) -> None:
    router = app.router
    router.add_get(customers, collection.list_customers)
    router.add_get(f"{customers}/count", collection.count_customers)
    router.add_post(f"{customers}/search", collection.search_customers)
    router.add_post(f"{customers}/batch", batch.run_batch)
    router.add_get(f"{customers}/{ID}/export", export.export_customer)
    router.add_get(f"{customers}/{ID}/address", address_handlers.list_addresses)
    router.add_put(f"{customers}/{ID}/address/{{address_id}}", address_handlers.update_address)
