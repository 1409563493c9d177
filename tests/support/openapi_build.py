"""The build step that writes gateway/openapi.json (`make openapi`, deploy/local/openapi.py),
for tests: the document it builds, once per test session."""

from __future__ import annotations

import copy
from functools import cache
from types import ModuleType
from typing import Any

from deploy.local import openapi


def builder() -> ModuleType:
    return openapi


@cache
def _built() -> dict[str, Any]:
    return openapi.build()


def build_document() -> dict[str, Any]:
    """The document as `make openapi` writes it (a copy: tests may change theirs)."""
    return copy.deepcopy(_built())
