"""Calls to an in-process customer_service as one tenant, for integration tests."""

from __future__ import annotations

import json
from typing import Any

API = "/api/v2"


class CustomerCalls:
    """customer_service's API as one tenant: (status, parsed body) per call."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any):
        """(status, parsed body or None) of one call."""
        response = await self.client.request(
            method, API + path, json=body, headers=self.headers, **kwargs
        )
        text = await response.text()
        return response.status, (json.loads(text) if text else None)

    async def response(self, method: str, path: str, body: Any = None):
        return await self.client.request(method, API + path, json=body, headers=self.headers)

    async def create(self, **fields: Any) -> dict[str, Any]:
        status, body = await self.call("POST", "/customers", fields)
        assert status == 201, body
        return body

    async def get(self, customer_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/customers/{customer_id}")
        assert status == 200, body
        return body
