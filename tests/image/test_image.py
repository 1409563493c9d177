"""The container image `make image` built, checked and run from its own filesystem.

Run by `make image-test` (CS_IMAGE names the image); skipped in `make test`, which builds none.
"""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from deploy.local.suite import SERVICES
from tests.e2e.conftest import obtain_client
from tests.image.conftest import IMAGE
from tests.support.wishlists import IDENTITY_COLUMNS, seed_wishlist, wait_deidentified

if not IMAGE:
    pytest.skip("needs a built image: `make image && make image-test`", allow_module_level=True)

API = "/services/customerservice/api/v2"
SIZE_GOAL = 250_000_000
COMPILERS = {"cc", "c++", "gcc", "g++", "clang", "clang++", "ld", "as", "make", "cpp", "tcc"}
# The operators' CLIs (the services and `shared.migrations` run in `image_suite`).
CLI_HELP = (
    ("auth_service", "--help"),
    ("gateway", "rate-limit", "--help"),
    ("customer_service", "import", "--help"),
)


def test_image_runs_as_uid_10001(image):
    """USER is 10001:10001, a named unprivileged user of the image."""
    assert image.config.uid_gid == (10001, 10001)
    passwd = (image.root.path / "etc" / "passwd").read_text()
    assert any(line.split(":")[2:4] == ["10001", "10001"] for line in passwd.splitlines())


def test_entrypoint_is_python_m_and_the_gateway_is_the_default(image):
    assert image.config.entrypoint == ["python", "-m"]
    assert image.config.cmd == ["gateway"]
    venv_python = image.root.path / "opt" / "venv" / "bin" / "python"
    assert venv_python.exists(), "the venv's interpreter resolves inside the image"
    assert image.config.env["PATH"].split(":")[0] == "/opt/venv/bin"


def test_final_stage_has_no_compiler_no_pip_and_no_pip_cache(image):
    root = image.root.path
    found = []
    for directory in ("usr/bin", "usr/local/bin", "bin", "opt/venv/bin"):
        path = root / directory
        if path.is_dir():
            found += [f"/{directory}/{p.name}" for p in path.iterdir() if _is_compiler(p.name)]
    assert not found, f"compilers in the image: {found}"
    assert not list((root / "usr" / "include").rglob("Python.h")), "Python headers in the image"
    site = next((root / "opt" / "venv" / "lib").glob("python3*/site-packages"))
    assert not (site / "pip").exists(), "pip is left in the venv"
    caches = [p for p in _dirs_named(root, ".cache") if (p / "pip").exists()]
    assert not caches, f"pip caches in the image: {caches}"


def test_image_size_is_printed_and_within_the_goal(image, capsys):
    megabytes = image.config.size / 1_000_000
    with capsys.disabled():
        print(f" [{image.name}: {megabytes:.0f} MB, goal < {SIZE_GOAL // 1_000_000} MB] ", end="")
    assert image.config.size < SIZE_GOAL, f"{megabytes:.0f} MB"


@pytest.mark.parametrize("args", CLI_HELP, ids=lambda args: " ".join(args))
def test_every_cli_is_a_python_m_entrypoint(image_suite, args):
    """`python -m <module> … --help` from the image, as its USER, answers with its usage."""
    result = image_suite.suite.run_module(*args)
    assert "usage:" in result.stdout


def test_services_run_from_the_image_as_uid_10001(image, image_suite):
    """Each service process: `python -m <service>`, chrooted into the image, every uid 10001."""
    for service in SERVICES:
        pid = image_suite.suite.processes[service].pid
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        assert [part.decode() for part in cmdline] == ["python", "-m", service]
        assert os.path.samefile(f"/proc/{pid}/root", image.root.path)
        status = Path(f"/proc/{pid}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        assert set(uids) == {"10001"}, (service, uids)


async def test_walking_skeleton_through_the_gateway(image_suite):
    """Tenant from the image's CLI, token, create, read, delete; the worker de-identifies the
    deleted customer's wishlist."""
    base = image_suite.base_url
    async with aiohttp.ClientSession() as http:
        client = await obtain_client(image_suite, http, "image_test")
        customer = {"email": "ima@example.com", "customerRef": "IMG-1", "firstName": "Ima",
                    "addresses": [{"city": "Oslo", "countryCode": "NO"}]}  # fmt: skip
        async with http.post(f"{base}{API}/customers", json=customer, headers=client.headers) as r:
            assert r.status == 201, await r.text()
            created = await r.json()
        url = f"{base}{API}/customers/{created['id']}"
        async with http.get(url, headers=client.headers) as r:
            assert r.status == 200
            assert await r.json() == created
        conn = await asyncpg.connect(image_suite.env["WISHLIST_DATABASE_URL"])
        try:
            wishlist = await seed_wishlist(conn, client.tenant, created, "birthday")
            async with http.delete(url, headers=client.headers) as r:
                assert r.status == 204
            async with http.get(url, headers=client.headers) as r:
                assert r.status == 404
            (row,) = await wait_deidentified(conn, [wishlist])
        finally:
            await conn.close()
    assert all(row[column] is None for column in IDENTITY_COLUMNS)
    assert row["customer_pseudonym"]


def _is_compiler(name: str) -> bool:
    # Also versioned and target-prefixed names: gcc-12, x86_64-linux-gnu-gcc-12, …
    return any(part in COMPILERS for part in name.split("-"))


def _dirs_named(root: Path, name: str) -> list[Path]:
    found = []
    for directory, subdirs, _ in os.walk(root):
        if Path(directory).relative_to(root).parts[:1] in {("proc",), ("dev",), ("sys",)}:
            subdirs.clear()
            continue
        found += [Path(directory) / d for d in subdirs if d == name]
    return found
