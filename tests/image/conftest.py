"""The built image, run from its own filesystem against the local data stores (`make image-test`).

Own database, wishlist database, RabbitMQ vhost (IMAGE_TEST_AMQP_URL, made by the Makefile's
bootstrap), Redis db 6 and ports 18300-18304, so it runs beside `make run`, `make test` (any slot)
and `make bench`. Every process it starts runs the image's `python -m <module>` (its ENTRYPOINT)
from the image's venv, as the image's USER; it stops them (by process group) at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis.asyncio as redis

from deploy.local.suite import Suite
from shared.settings import load_settings
from tests.conftest import _with_database
from tests.e2e.conftest import RunningSuite
from tests.image.imagefs import ImageConfig, ImageRoot, mount_image, unmount_image

IMAGE = os.environ.get("CS_IMAGE", "")
GATEWAY_PORT = 18300
DATABASE = "customer_suite_image"
WISHLIST_DATABASE = "customer_suite_image_wishlist"
REDIS_DB = 6


@dataclass(frozen=True)
class BuiltImage:
    name: str
    config: ImageConfig
    root: ImageRoot


@pytest.fixture(scope="session")
def image() -> Iterator[BuiltImage]:
    config = ImageConfig.inspect(IMAGE)
    uid, gid = config.uid_gid
    path = mount_image(IMAGE)
    try:
        yield BuiltImage(IMAGE, config, ImageRoot(path, uid, gid, config.workdir))
    finally:
        unmount_image(IMAGE)


def _image_env(config: ImageConfig) -> dict[str, str]:
    """The image's own environment plus the settings a deployment gives it."""
    base = load_settings(env_file=None)
    return {
        **config.env,
        "DATABASE_URL": _with_database(base.database_url, DATABASE),
        "WISHLIST_DATABASE_URL": _with_database(base.database_url, WISHLIST_DATABASE),
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "AMQP_URL": os.environ.get(
            "IMAGE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/customer_suite_image"
        ),
        "PSEUDONYM_KEY": "image-test-pseudonym-key",
        # The host's network: listen on loopback only, not the image's 0.0.0.0.
        "BIND_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(GATEWAY_PORT),
        "CUSTOMER_SERVICE_PORT": str(GATEWAY_PORT + 1),
        "AUTH_SERVICE_PORT": str(GATEWAY_PORT + 2),
        "IMPEX_WORKER_PORT": str(GATEWAY_PORT + 3),
        "GATEWAY_ADMIN_PORT": str(GATEWAY_PORT + 4),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{GATEWAY_PORT}",
    }


async def _reset_stores(env: dict[str, str]) -> None:
    """No databases (the image's migrations make them) and an empty Redis db."""
    admin = await asyncpg.connect(_with_database(env["DATABASE_URL"], "postgres"))
    try:
        for url in (env["DATABASE_URL"], env["WISHLIST_DATABASE_URL"]):
            name = urlsplit(url).path.lstrip("/")
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    client = redis.from_url(env["REDIS_URL"])
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def image_suite(image: BuiltImage, tmp_path_factory) -> Iterator[RunningSuite]:
    """Migrations, then the four services, all from the image; stopped at the end."""
    env = _image_env(image.config)
    asyncio.run(_reset_stores(env))
    suite = Suite(
        env=env,
        log_dir=tmp_path_factory.mktemp("image-logs"),
        entrypoint=image.config.entrypoint,
        preexec_fn=image.root.enter,
    )
    applied = json.loads(suite.run_module("shared.migrations", timeout=120).stdout)
    assert all(applied["migrations_applied"].values()), f"fresh databases, yet {applied}"
    try:
        with suite.running():
            yield RunningSuite(f"http://127.0.0.1:{GATEWAY_PORT}", env, suite)
    except (RuntimeError, TimeoutError):
        for log in sorted(suite.log_dir.glob("*.log")):  # CI keeps no files: show them
            print(f"---- {log.name} (last lines)\n" + "\n".join(log.read_text().splitlines()[-30:]))
        raise
    finally:
        asyncio.run(_reset_stores(env))
