"""Typed app keys of the gateway."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from gateway.lean_client import LeanPool
from gateway.rate_limit import RateLimiter
from gateway.upstreams import Route

UPSTREAM_SESSION = web.AppKey("upstream_session", aiohttp.ClientSession)
# The lean client's pools for requests without a body, by upstream base URL.
LEAN_POOLS = web.AppKey("lean_pools", dict[str, LeanPool])
ROUTES = web.AppKey("routes", tuple[Route, ...])
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
