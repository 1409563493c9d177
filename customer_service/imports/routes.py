"""The import API's routes (upstream paths; the gateway serves them under /services/impex) and
`upload-customers`, which the customer API serves (under /services/customerservice)."""

from __future__ import annotations

from aiohttp import web

from customer_service.imports import handlers
from shared.web import uuid_placeholder

# Only a UUID: `/batch/state-change` never reaches the `/batch/{batch_id}` routes.
BATCH_ID = uuid_placeholder("batch_id")

IMPORT_API = "/api/import"
BATCH = f"{IMPORT_API}/batch"


def add_import_routes(app: web.Application) -> None:
    router = app.router
    router.add_post(BATCH, handlers.create_batch)
    router.add_get(BATCH, handlers.list_batches)
    # Before /batch/{batch_id}: a literal segment wins over the placeholder.
    router.add_put(f"{BATCH}/state-change", handlers.change_state)
    router.add_get(f"{BATCH}/{BATCH_ID}", handlers.get_batch)
    router.add_post(f"{BATCH}/{BATCH_ID}/file", handlers.upload_file)
    router.add_get(f"{BATCH}/{BATCH_ID}/errors", handlers.list_row_errors)
    router.add_post(f"{IMPORT_API}/resource", handlers.add_resources)
    router.add_post("/api/v2/upload-customers", handlers.upload_customers)
