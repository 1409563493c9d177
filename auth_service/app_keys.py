"""Typed app keys of auth_service."""

from __future__ import annotations

from aiohttp import web

from auth_service.service import TokenService
from auth_service.signing import KeyRing

KEYRING = web.AppKey("keyring", KeyRing)
TOKENS = web.AppKey("tokens", TokenService)
