"""The shopper routes (API.md §10), and the context that builds their service.

`/me/...` comes before `/{customer_id}/...`: `me` is a literal, not a customer id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from customer_service.app_keys import CUSTOMERS
from customer_service.shoppers import handlers
from customer_service.shoppers.app_keys import SHOPPERS
from customer_service.shoppers.limits import ShopperLimits
from customer_service.shoppers.passwords import PasswordHasher
from customer_service.shoppers.service import ShopperService
from shared.app_keys import DB_POOL, SETTINGS

SHOPPERS_PATH = "/api/v2/shoppers"


def add_shopper_routes(app: web.Application) -> None:
    router = app.router
    router.add_post(f"{SHOPPERS_PATH}/register", handlers.register)
    router.add_post(f"{SHOPPERS_PATH}/login", handlers.login)
    router.add_post(f"{SHOPPERS_PATH}/otp", handlers.request_otp)
    router.add_post(f"{SHOPPERS_PATH}/login/otp", handlers.login_with_otp)
    router.add_post(f"{SHOPPERS_PATH}/logout", handlers.logout)
    router.add_get(f"{SHOPPERS_PATH}/session", handlers.session)
    router.add_get(f"{SHOPPERS_PATH}/me", handlers.get_me)
    router.add_put(f"{SHOPPERS_PATH}/me", handlers.update_me)
    router.add_put(f"{SHOPPERS_PATH}/me/password", handlers.change_password)
    router.add_get(f"{SHOPPERS_PATH}/me/address", handlers.list_addresses)
    router.add_post(f"{SHOPPERS_PATH}/me/address", handlers.add_address)
    router.add_put(f"{SHOPPERS_PATH}/me/address/{{address_id}}", handlers.update_address)
    router.add_delete(f"{SHOPPERS_PATH}/me/address/{{address_id}}", handlers.delete_address)
    router.add_put(f"{SHOPPERS_PATH}/{{customer_id}}/password", handlers.reset_password)
    router.add_delete(f"{SHOPPERS_PATH}/{{customer_id}}/sessions", handlers.end_sessions)


async def shoppers_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the customer service's): the shopper service, its own Redis client
    for the login counters (not a readiness check: Redis down fails logins, not the customer
    API), and the password hashing threads."""
    settings = app[SETTINGS]
    redis = Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.dependency_timeout,
        socket_timeout=settings.dependency_timeout,
    )
    hasher = PasswordHasher(
        time_cost=settings.shopper_password_time_cost,
        memory_kib=settings.shopper_password_memory_kib,
        parallelism=settings.shopper_password_parallelism,
    )
    app[SHOPPERS] = ShopperService(
        app[DB_POOL],
        app[CUSTOMERS],
        ShopperLimits(redis),
        hasher,
        session_ttl_seconds=settings.shopper_session_ttl_seconds,
    )
    yield
    hasher.close()
    await redis.aclose()
