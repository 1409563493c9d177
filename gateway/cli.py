"""`python -m gateway rate-limit …`: per-tenant rate limits, read by every gateway at once."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence

from redis.asyncio import Redis

from gateway.rate_limit import config_key
from shared.identifiers import is_tenant_id
from shared.settings import Settings

_FIELDS = ("rate", "burst", "client_rate", "client_burst")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    limits = commands.add_parser("rate-limit", help="per-tenant rate limits")
    actions = limits.add_subparsers(dest="action", required=True)
    setter = actions.add_parser("set", help="set a tenant's limits (requests/s and burst)")
    setter.add_argument("tenant")
    setter.add_argument("--rate", type=float, help="tenant requests per second")
    setter.add_argument("--burst", type=int, help="tenant burst size")
    setter.add_argument("--client-rate", type=float, help="per-client requests per second")
    setter.add_argument("--client-burst", type=int, help="per-client burst size")
    for name, text in (("show", "print a tenant's limits"), ("clear", "back to the defaults")):
        actions.add_parser(name, help=text).add_argument("tenant")
    return parser


async def run(argv: Sequence[str], settings: Settings) -> dict:
    args = build_parser().parse_args(list(argv))
    if not is_tenant_id(args.tenant):
        raise SystemExit(f"error: not a tenant id: {args.tenant!r}")
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2)
    key = config_key(args.tenant)
    try:
        if args.action == "set":
            values = {
                field: value
                for field, value in zip(
                    _FIELDS,
                    (args.rate, args.burst, args.client_rate, args.client_burst),
                    strict=True,
                )
                if value is not None
            }
            if any(value <= 0 for value in values.values()):
                raise SystemExit("error: limits must be positive")
            if values:
                await redis.hset(key, mapping=values)
        elif args.action == "clear":
            await redis.delete(key)
        stored = {k.decode(): float(v) for k, v in (await redis.hgetall(key)).items()}
    finally:
        await redis.aclose()
    defaults = {
        "rate": settings.rate_limit_tenant_per_second,
        "burst": settings.rate_limit_tenant_burst,
        "client_rate": settings.rate_limit_client_per_second,
        "client_burst": settings.rate_limit_client_burst,
    }
    return {"tenant": args.tenant, **defaults, **stored}


def main(argv: Sequence[str], settings: Settings) -> int:
    print(json.dumps(asyncio.run(run(argv, settings))))
    return 0
