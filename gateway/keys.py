"""Typed app keys of the gateway."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from gateway.upstreams import Route

UPSTREAM_SESSION = web.AppKey("upstream_session", aiohttp.ClientSession)
ROUTES = web.AppKey("routes", tuple[Route, ...])
