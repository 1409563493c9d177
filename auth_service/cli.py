"""The provisioning CLI: `python -m auth_service tenants|clients|keys …`.

stdout carries only the result, one JSON object per line (secrets appear there once, never in
logs); logs and error messages go to stderr. Exit codes: 0 done, 1 not found or the database
failed, 2 bad usage (argparse's own code).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TextIO

import asyncpg
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from auth_service import provisioning, repository
from auth_service.repository import Client
from auth_service.scopes import parse_scopes
from auth_service.signing import retire_key, rotate_keys
from shared import db
from shared.authz import DEFAULT_SCOPES, OPT_IN_SCOPES
from shared.errors import InvalidInput, NotFound, Unavailable
from shared.identifiers import is_tenant_id
from shared.revocations import publish_client_revocation, publish_keys_changed
from shared.settings import Settings, load_settings
from shared.timefmt import iso_ms

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Command = Callable[
    [asyncpg.Connection, argparse.Namespace, Settings], Awaitable[list[dict[str, Any]]]
]


def _tenant(text: str) -> str:
    if not is_tenant_id(text):
        raise argparse.ArgumentTypeError(
            f"invalid tenant id {text!r}: it must match ^[A-Za-z0-9_-]{{1,64}}$"
        )
    return text


def _scopes(text: str) -> tuple[str, ...]:
    try:
        return parse_scopes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_scopes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scopes",
        type=_scopes,
        default=DEFAULT_SCOPES,
        help=f"space-separated, exactly the client's scopes (default: {' '.join(DEFAULT_SCOPES)}; "
        f"opt-in: {' '.join(OPT_IN_SCOPES)})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m auth_service",
        description="Provision tenants, API clients and signing keys. Without arguments: serve.",
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="{tenants,clients,keys}")

    tenants = groups.add_parser("tenants", help="tenants").add_subparsers(
        dest="action", required=True
    )
    create_tenant = tenants.add_parser(
        "create", help="create the tenant if missing and a new client (default scopes)"
    )
    create_tenant.add_argument("tenant", type=_tenant)
    _add_scopes_option(create_tenant)
    create_tenant.set_defaults(command=_tenants_create)

    clients = groups.add_parser("clients", help="API clients").add_subparsers(
        dest="action", required=True
    )
    create_client = clients.add_parser("create", help="a new client of an existing tenant")
    create_client.add_argument("tenant", type=_tenant)
    _add_scopes_option(create_client)
    create_client.set_defaults(command=_clients_create)
    list_clients = clients.add_parser("list", help="the tenant's clients (no secrets)")
    list_clients.add_argument("tenant", type=_tenant)
    list_clients.set_defaults(command=_clients_list)
    for action, command, help_text in (
        ("revoke", _clients_revoke, "revoke a client (it gets no more tokens)"),
        ("rotate-secret", _clients_rotate_secret, "a new secret, printed once"),
    ):
        sub = clients.add_parser(action, help=help_text)
        sub.add_argument("tenant", type=_tenant)
        sub.add_argument("client_id")
        sub.set_defaults(command=command)

    keys = groups.add_parser("keys", help="token signing keys").add_subparsers(
        dest="action", required=True
    )
    rotate = keys.add_parser(
        "rotate", help="make a new signing key current; the previous one stays published"
    )
    rotate.set_defaults(command=_keys_rotate)
    list_keys = keys.add_parser("list", help="every signing key and its state (no key material)")
    list_keys.set_defaults(command=_keys_list)
    for action, help_text in (
        (
            "retire",
            "stop signing with KID; it stays published until the tokens it signed have expired",
        ),
        ("revoke", "unpublish KID at once (a leaked key): every token it signed is refused"),
    ):
        sub = keys.add_parser(action, help=help_text)
        sub.add_argument(
            "kid", help="the key id (`keys list`); older ids may start with '-': `-- KID`"
        )
        sub.set_defaults(command=_keys_retire, revoke=action == "revoke")
    return parser


def _credentials(new: provisioning.NewCredentials) -> dict[str, Any]:
    return {"tenant": new.tenant, "client_id": new.client_id, "client_secret": new.client_secret}


def _client(client: Client) -> dict[str, Any]:
    return {
        "tenant": client.tenant,
        "client_id": client.client_id,
        "scopes": list(client.scopes),
        "active": client.active,
        "created_at": iso_ms(client.created_at),
        "revoked_at": iso_ms(client.revoked_at),
    }


async def _tenants_create(
    conn: asyncpg.Connection, args: argparse.Namespace, _settings: Settings
) -> list[dict]:
    return [
        _credentials(await provisioning.create_tenant_with_client(conn, args.tenant, args.scopes))
    ]


async def _clients_create(
    conn: asyncpg.Connection, args: argparse.Namespace, _settings: Settings
) -> list[dict]:
    return [_credentials(await provisioning.create_client(conn, args.tenant, args.scopes))]


async def _clients_list(
    conn: asyncpg.Connection, args: argparse.Namespace, _settings: Settings
) -> list[dict]:
    return [_client(client) for client in await provisioning.list_clients(conn, args.tenant)]


async def _clients_revoke(
    conn: asyncpg.Connection, args: argparse.Namespace, settings: Settings
) -> list[dict]:
    client = await provisioning.revoke_client(conn, args.tenant, args.client_id)
    revoked_at = int(client.revoked_at.timestamp()) if client.revoked_at else int(time.time())
    # Tokens issued before now stay refused until the last of them has expired.
    keep_until = revoked_at + settings.token_ttl_seconds + settings.token_leeway_seconds
    await _tell_verifiers(
        settings,
        lambda redis: publish_client_revocation(
            redis, args.tenant, args.client_id, revoked_at=revoked_at, keep_until=keep_until
        ),
    )
    return [_client(client)]


async def _tell_verifiers(settings: Settings, publish: Callable[[Redis], Awaitable[None]]) -> None:
    """Announce a change over Redis now. The database has it already: if Redis is down,
    auth_service pushes revocations to it once it answers (verifiers refetch keys on schedule)."""
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await publish(redis)
    except (RedisError, OSError) as exc:
        print(
            f"warning: Redis is unavailable ({type(exc).__name__}): the change is stored, and"
            " reaches the gateway and the services once Redis answers (revocations: within"
            " REVOCATION_RESYNC_SECONDS; keys: within JWKS_REFRESH_SECONDS).",
            file=sys.stderr,
        )
    finally:
        await redis.aclose()


async def _clients_rotate_secret(
    conn: asyncpg.Connection, args: argparse.Namespace, _settings: Settings
) -> list[dict]:
    return [_credentials(await provisioning.rotate_secret(conn, args.tenant, args.client_id))]


async def _keys_rotate(
    conn: asyncpg.Connection, _args: argparse.Namespace, _settings: Settings
) -> list[dict]:
    kid, retired = await rotate_keys(conn)
    return [{"kid": kid, "retired": retired}]


async def _keys_list(
    conn: asyncpg.Connection, _args: argparse.Namespace, settings: Settings
) -> list[dict]:
    grace = settings.token_ttl_seconds + settings.token_leeway_seconds
    current, published = await repository.fetch_published_kids(conn, grace)
    return [
        {
            "kid": key.kid,
            "current": key.kid == current,
            "published": key.kid in published,
            "created_at": iso_ms(key.created_at),
            "retired_at": iso_ms(key.retired_at),
            "revoked_at": iso_ms(key.revoked_at),
        }
        for key in await repository.fetch_key_states(conn)
    ]


async def _keys_retire(
    conn: asyncpg.Connection, args: argparse.Namespace, settings: Settings
) -> list[dict]:
    made = await retire_key(conn, args.kid, revoke=args.revoke)
    await _tell_verifiers(settings, publish_keys_changed)
    return [{"kid": args.kid, "revoked" if args.revoke else "retired": True, "current": made}]


async def run(
    argv: Sequence[str],
    settings: Settings,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Parse `argv`, run the command against `settings.database_url`, print its JSON lines."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    args = build_parser().parse_args(list(argv))
    command: Command = args.command
    pool = await db.create_pool(settings.database_url, min_size=0, max_size=1)
    try:
        async with db.connection(pool) as conn:
            lines = await command(conn, args, settings)
    except InvalidInput as exc:
        print(f"error: {exc.detail}", file=stderr)
        return EXIT_USAGE
    except NotFound as exc:
        print(f"error: {exc.detail}", file=stderr)
        return EXIT_FAILED
    except asyncpg.UndefinedTableError:
        print("error: the auth schema is missing; run `python -m shared.migrations`", file=stderr)
        return EXIT_FAILED
    except (Unavailable, asyncpg.PostgresError, *db.CONNECTION_ERRORS) as exc:
        print(f"error: the database failed ({type(exc).__name__})", file=stderr)
        return EXIT_FAILED
    finally:
        await pool.close()
    for line in lines:
        print(json.dumps(line), file=stdout, flush=True)
    return EXIT_OK


def configure_cli_logging(level: str) -> None:
    """Logs as JSON lines on stderr: stdout belongs to the command's result."""
    log_level = getattr(logging, level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.EventRenamer("msg"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(log_level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(stream=sys.stderr, level=max(log_level, logging.WARNING))


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings()
    configure_cli_logging(settings.log_level)
    return asyncio.run(run(sys.argv[1:] if argv is None else argv, settings))
