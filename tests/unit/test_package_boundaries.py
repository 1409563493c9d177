"""No service imports another service (ARCHITECTURE.md): each service package imports only
itself and shared/, and shared/ imports none of them. Read from the source with ast, so an
import inside a function or under TYPE_CHECKING counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth_service", "customer_service", "gateway", "impex_worker")
PACKAGES = (*SERVICES, "shared")


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in a module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value.split(".")[0]))
    return sorted(found)


def _violations(package: str) -> list[str]:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, f"no modules found under {package}/"
    violations = []
    for module in modules:
        tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
        for line, imported in _imported(tree):
            if imported in SERVICES and imported != package:
                violations.append(f"{module.relative_to(ROOT)}:{line} imports {imported}")
    return violations


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_itself_and_shared(package):
    assert _violations(package) == []


def test_the_check_sees_every_kind_of_import():
    source = (
        "import gateway.app\n"
        "from customer_service.orders import service\n"
        "def f():\n"
        "    from impex_worker import app\n"
        "    importlib.import_module('auth_service.cli')\n"
        "from . import sibling\n"
    )
    assert _imported(ast.parse(source)) == [
        (1, "gateway"),
        (2, "customer_service"),
        (4, "impex_worker"),
        (5, "auth_service"),
    ]
