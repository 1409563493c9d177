"""The route table of customer_service (upstream paths, without the gateway's prefixes).

Order matters where a literal segment could also match a placeholder: `/customers/search`
and `/customers/validate` come before `/customers/{id}`.
"""

from __future__ import annotations

from aiohttp import web

from customer_service import handlers, note_handlers
from customer_service.collection.routes import add_collection_routes
from customer_service.imports.routes import add_import_routes
from customer_service.orders.handlers import post_order_events
from customer_service.shoppers.routes import add_shopper_routes
from customer_service.v1 import handlers as v1
from shared.web import uuid_placeholder

API = "/api/v2"
CUSTOMERS = f"{API}/customers"
V1_CUSTOMERS = "/api/customers"
# A customer id segment: only a UUID, so `/customers/validate` and `/customers/count` never
# reach the `/customers/{id}` routes (and their 405s list only their own methods).
ID = uuid_placeholder("id")


def add_routes(app: web.Application) -> None:
    router = app.router
    add_collection_routes(app, CUSTOMERS)
    router.add_post(CUSTOMERS, handlers.create_customer)
    router.add_put(CUSTOMERS, handlers.update_customer_from_body)
    router.add_delete(CUSTOMERS, handlers.delete_customer_by_query)
    router.add_post(f"{CUSTOMERS}/validate", handlers.validate_customer)
    router.add_get(f"{CUSTOMERS}/search", handlers.search_customers)
    router.add_put(f"{CUSTOMERS}/id={{id}}", handlers.update_customer)
    router.add_put(f"{CUSTOMERS}/customerRef={{customerRef}}", handlers.update_customer)
    router.add_put(f"{CUSTOMERS}/email={{email}}", handlers.update_customer)
    router.add_get(f"{CUSTOMERS}/{{customerRef}}/ref", handlers.get_customer)
    router.add_delete(f"{CUSTOMERS}/{{customerRef}}/ref", handlers.delete_customer)
    router.add_get(f"{CUSTOMERS}/{{email}}/email", handlers.get_customer)
    router.add_get(
        f"{CUSTOMERS}/{{alternateCustomerRef}}/alternateCustomerRef", handlers.get_customer
    )
    router.add_post(f"{CUSTOMERS}/{ID}/address", handlers.add_address)
    router.add_delete(f"{CUSTOMERS}/{ID}/address/{{address_id}}", handlers.delete_address)
    router.add_get(f"{CUSTOMERS}/{ID}", handlers.get_customer)
    router.add_delete(f"{CUSTOMERS}/{ID}", handlers.delete_customer)

    router.add_post(f"{API}/customer/note", note_handlers.create_note)
    router.add_put(f"{API}/customer/note", note_handlers.update_note)
    router.add_get(f"{API}/customer/note/{{note_id}}", note_handlers.get_note)
    router.add_delete(f"{API}/customer/note/{{note_id}}", note_handlers.delete_note)
    router.add_get(f"{API}/customer/notes", note_handlers.list_notes)
    router.add_delete(f"{API}/customer/notes", note_handlers.delete_notes)

    router.add_post(f"{API}/order-events", post_order_events)

    # TWC v1 (API.md §12), a translation layer over the same use cases.
    router.add_post(V1_CUSTOMERS, v1.create_customer)
    router.add_put(V1_CUSTOMERS, v1.update_customer)
    router.add_get(f"{V1_CUSTOMERS}/{{id}}", v1.get_customer)
    router.add_delete(f"{V1_CUSTOMERS}/{{id}}", v1.delete_customer)
    router.add_post("/api/upload-customers", v1.upload_customers)

    add_import_routes(app)
    add_shopper_routes(app)


def is_public(path: str) -> bool:
    """Operational routes need no token; everything under /api does."""
    return not path.startswith("/api/")
