"""A storefront backend for tests: its tenant token, and the shopper calls it makes."""

from __future__ import annotations

import dataclasses
from typing import Any

from shared.settings import Settings
from tests.support.tokens import TokenMint

SHOPPERS = "/api/v2/shoppers"
PASSWORD = "correct horse battery"


def cheap_hashing(settings: Settings) -> Settings:
    """argon2id at its smallest cost: the tests exercise the logic, not the hash's strength."""
    return dataclasses.replace(
        settings, shopper_password_time_cost=1, shopper_password_memory_kib=8
    )


class Storefront:
    """Calls customer_service (or the gateway, with `prefix`) as a retailer's storefront does."""

    def __init__(self, client: Any, mint: TokenMint | None, tenant: str, prefix: str = "") -> None:
        self.client = client
        self.mint = mint
        self.tenant = tenant
        self.prefix = prefix
        self.bearer = mint.token(tenant) if mint is not None else ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer}", "X-TWC-Tenant": self.tenant}

    def url(self, path: str) -> str:
        return f"{self.prefix}{SHOPPERS}{path}"

    async def call(
        self, method: str, path: str, *, session: str | None = None, **kwargs: Any
    ) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        if session is not None:
            headers["AccessToken"] = session
        return await self.client.request(method, self.url(path), headers=headers, **kwargs)

    async def register(self, email: str, password: str = PASSWORD, **customer: Any) -> dict:
        body: dict[str, Any] = {"username": email, "password": password}
        if customer:
            body["customer"] = customer
        response = await self.call("POST", "/register", json=body)
        assert response.status == 201, await response.text()
        return await response.json()

    async def login(self, email: str, password: str = PASSWORD) -> str:
        response = await self.call("POST", "/login", json={"username": email, "password": password})
        assert response.status == 200, await response.text()
        return (await response.json())["Token"]["AccessToken"]

    async def session_valid(self, token: str) -> bool:
        response = await self.call("GET", "/session", session=token)
        assert response.status == 200
        return (await response.json())["SessionValid"]
