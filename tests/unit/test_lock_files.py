"""requirements.lock (the image's and CI's runtime versions) and requirements-dev.lock (plus the
dev tools, for `make venv`) pin what pyproject.toml asks for: `make lock` after changing it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
RUNTIME = PROJECT["dependencies"]
DEV = PROJECT["optional-dependencies"]["dev"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)")


def _pins(name: str) -> dict[str, str]:
    """{package: version} of a lock file; every pin carries at least one hash."""
    text = (ROOT / name).read_text(encoding="utf-8")
    pins = {}
    for block in re.split(r"\n(?=\S)", text):
        match = PIN.match(block)
        if match:
            assert "--hash=sha256:" in block, f"{name}: {match.group(1)} has no hash"
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [("requirements.lock", RUNTIME), ("requirements-dev.lock", RUNTIME + DEV)],
)
def test_lock_pins_every_declared_dependency_within_its_range(lock, requirements):
    pins = _pins(lock)
    for line in requirements:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} has no {name}: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock}: {name}=={pins[name]} is outside {requirement.specifier}: run `make lock`"
        )


def test_dev_lock_has_the_runtime_lock_versions():
    """Tests run on the versions the image ships."""
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime
