"""Typed app keys of customer_service."""

from __future__ import annotations

from aiohttp import web

from customer_service.batch.service import BatchService
from customer_service.collection.service import CollectionService
from customer_service.export.service import ExportService
from customer_service.imports.service import ImportService
from customer_service.imports.uploads import UploadSlots
from customer_service.notes_service import NoteService
from customer_service.orders.service import OrderService
from customer_service.service import CustomerService
from customer_service.v1.service import V1CustomerService

CUSTOMERS = web.AppKey("customers", CustomerService)
NOTES = web.AppKey("notes", NoteService)
IMPORTS = web.AppKey("imports", ImportService)
UPLOAD_SLOTS = web.AppKey("upload_slots", UploadSlots)
ORDERS = web.AppKey("orders", OrderService)
V1_CUSTOMERS = web.AppKey("v1_customers", V1CustomerService)
COLLECTION = web.AppKey("collection", CollectionService)
BATCH = web.AppKey("batch", BatchService)
EXPORT = web.AppKey("export", ExportService)
