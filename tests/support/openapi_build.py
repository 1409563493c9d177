"""The build step that writes gateway/openapi.json (deploy/local/openapi.py), loaded for tests:
it is a script of the repository, not part of an installed package."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "local" / "openapi.py"


@cache
def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_local_openapi", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def _built() -> dict[str, Any]:
    return builder().build()


def build_document() -> dict[str, Any]:
    """The document as `make openapi` writes it (built once per test session)."""
    import copy

    return copy.deepcopy(_built())
