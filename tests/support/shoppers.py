"""A storefront backend for tests: its tenant token, and the shopper calls it makes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import orjson

from shared.amqp import SHOPPER_NOTIFICATIONS_EXCHANGE, SHOPPER_OTP_REQUESTED, declare_topology
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


@contextlib.asynccontextmanager
async def otp_events(amqp_url: str) -> AsyncIterator[Any]:
    """An exclusive queue receiving every `shopper.otp.requested` event (what a retailer's SMS
    or email sender would consume)."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        await declare_topology(channel)
        exchange = await channel.get_exchange(SHOPPER_NOTIFICATIONS_EXCHANGE)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=SHOPPER_OTP_REQUESTED)
        yield queue
    finally:
        await connection.close()


async def next_otp(queue: Any, tenant: str, timeout: float = 15.0) -> tuple[dict, Any]:
    """The next OTP event of `tenant` (body, message); others are acknowledged and skipped."""
    async with asyncio.timeout(timeout), queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            body = orjson.loads(message.body)
            if body["tenant"] == tenant:
                return body, message
    raise AssertionError("the queue ended without an OTP event")
