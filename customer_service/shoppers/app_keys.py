"""The app key of the shopper accounts service."""

from __future__ import annotations

from aiohttp import web

from customer_service.shoppers.service import ShopperService

SHOPPERS = web.AppKey("shoppers", ShopperService)
