"""Typed app keys of the gateway."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from gateway.rate_limit import RateLimiter
from gateway.upstreams import Route

UPSTREAM_SESSION = web.AppKey("upstream_session", aiohttp.ClientSession)
ROUTES = web.AppKey("routes", tuple[Route, ...])
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
