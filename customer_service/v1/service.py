"""v1 use cases: translate, then call the v2 use case with a v1 renderer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from customer_service.imports.service import ImportService
from customer_service.service import CustomerService, Identifier, validate_customer
from customer_service.v1.translate import (
    V1_CREATE_STATE,
    render_v1,
    to_v2,
    v1_errors,
    v1_ref,
)
from shared.customers.representation import state_from_record
from shared.customers.v1_fields import IMPORT_KEY
from shared.errors import InvalidInput
from shared.orders.service import totals_of


async def _render(
    conn: asyncpg.Connection, tenant: str, record: asyncpg.Record, now: datetime
) -> dict[str, Any]:
    totals = await totals_of(conn, tenant, record["id"], now)
    return render_v1(record, state_from_record(record), totals)


def _changes(body: object, *, create: bool) -> dict[str, Any]:
    """The validated v2 changes of a v1 body, v1-only fields included; errors in v1 names."""
    if not isinstance(body, Mapping):
        raise InvalidInput(
            "A customer must be a JSON object.", errors={"_body": ["Not an object."]}
        )
    v2, hidden, errors = to_v2(body)
    if create:
        v2.setdefault("customer_state", V1_CREATE_STATE)
    try:
        changes = validate_customer(v2, partial=not create)
    except InvalidInput as exc:
        errors = {**v1_errors(exc.errors or {}), **errors}
        changes = {}
    if errors:
        raise InvalidInput("The customer is not valid.", errors=errors)
    return {**changes, **hidden}


def _identifier(body: Mapping[str, Any]) -> Identifier:
    """PUT /api/customers: `id` (the customerRef), else `twc_customer_id`, else `email`."""
    if body.get("id") is not None:
        try:
            return Identifier("customerRef", v1_ref(body["id"]))
        except ValueError as exc:
            raise InvalidInput("The id is not valid.", errors={"id": [str(exc)]}) from None
    for name, kind in (("twc_customer_id", "id"), ("email", "email")):
        value = body.get(name)
        if isinstance(value, str) and value:
            return Identifier(kind, value)
    raise InvalidInput(
        "Name the customer by id, twc_customer_id or email.",
        errors={"id": ["One of id, twc_customer_id or email is required."]},
    )


class V1CustomerService:
    def __init__(self, customers: CustomerService, imports: ImportService) -> None:
        self._customers = customers
        self._imports = imports

    async def create(self, tenant: str, body: object) -> dict[str, Any]:
        changes = _changes(body, create=True)
        return await self._customers.create_validated(tenant, changes, render=_render)

    async def update(self, tenant: str, body: object) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise InvalidInput(
                "A customer must be a JSON object.", errors={"_body": ["Not an object."]}
            )
        identifier = _identifier(body)
        changes = _changes(body, create=False)
        return await self._customers.update_validated(tenant, identifier, changes, render=_render)

    async def get(self, tenant: str, ref: str) -> dict[str, Any]:
        return await self._customers.get(tenant, Identifier("customerRef", ref), render=_render)

    async def delete(self, tenant: str, ref: str) -> None:
        await self._customers.delete(tenant, Identifier("customerRef", ref))

    async def upload(self, tenant: str, body: object) -> dict[str, Any]:
        """An array of v1 customers as a v2 import batch (202): each record translated here,
        validated by the worker like any imported record; the v1-only fields ride along under
        IMPORT_KEY (the worker checks them again)."""
        if not isinstance(body, list):
            raise InvalidInput(
                "Send a JSON array of customers.", errors={"_body": ["Not an array."]}
            )
        records, errors = [], {}
        for index, item in enumerate(body):
            if not isinstance(item, Mapping):
                errors[str(index)] = ["Not an object."]
                continue
            v2, hidden, item_errors = to_v2(item)
            errors.update({f"{index}.{path}": msgs for path, msgs in item_errors.items()})
            records.append({**v2, IMPORT_KEY: hidden} if hidden else v2)
        if errors:
            raise InvalidInput("The customers are not valid.", errors=errors)
        return await self._imports.upload_customers(tenant, records)
