"""impex_worker keys the wishlist pseudonyms: it refuses to start with an empty key or the
public default unless the development flag says this is a development machine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.settings import DEFAULT_PSEUDONYM_KEY, Settings
from tests.support.processes import free_port
from tests.support.service_process import service_process

FLAG = "ALLOW_INSECURE_DEV_DEFAULTS"


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The worker's environment against the test stores, without any key or flag of the
    caller's own."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("PSEUDONYM_KEY", FLAG)}
    return {
        **inherited,
        "DATABASE_URL": settings.database_url,
        "WISHLIST_DATABASE_URL": settings.wishlist_database_url,
        "REDIS_URL": settings.redis_url,
        "AMQP_URL": settings.amqp_url,
        "IMPEX_WORKER_PORT": str(free_port()),
        **extra,
    }


@pytest.mark.parametrize(
    "key", [None, "", "   ", DEFAULT_PSEUDONYM_KEY], ids=["unset", "empty", "blank", "default"]
)
def test_worker_refuses_to_start_without_a_secret_pseudonym_key(test_settings, tmp_path, key):
    """Exit status 1 at once, and stderr says which setting and how to fix it."""
    extra = {} if key is None else {"PSEUDONYM_KEY": key}
    result = subprocess.run(
        [sys.executable, "-m", "impex_worker"],
        env=worker_env(test_settings, **extra), cwd=tmp_path,  # cwd: no .env is read
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "refusing to start" in result.stderr
    assert "PSEUDONYM_KEY" in result.stderr and FLAG in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "extra",
    [{FLAG: "1"}, {"PSEUDONYM_KEY": "a-real-secret-key-0f3c9"}],
    ids=["default-key-with-dev-flag", "secret-key"],
)
async def test_worker_starts_with_a_secret_key_or_the_dev_flag(test_settings, tmp_path, extra):
    """The flag lets a development machine run with the default (and warns); a key of one's
    own needs no flag."""
    env = worker_env(test_settings, **extra)
    port = int(env["IMPEX_WORKER_PORT"])
    with service_process("impex_worker", port, env, tmp_path) as w:
        await w.wait_healthy(timeout=60)
        warned = "insecure development defaults in use" in w.log()
        assert warned == (FLAG in extra)
