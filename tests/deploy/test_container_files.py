"""The Dockerfile and compose.yaml (no Docker engine runs here: their structure is checked)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import yaml

from deploy.local.suite import SERVICES
from tests.deploy.settings_names import setting_names

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|clang|libpq-dev|python3-dev)\b")


def _stages() -> list[tuple[str, list[str]]]:
    """(stage name, instructions) per FROM, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            match = re.search(r"\bAS\s+(\S+)", line, re.IGNORECASE)
            stages.append((match.group(1) if match else str(len(stages)), [line]))
        elif stages:
            stages[-1][1].append(line)
    return stages


def test_image_is_multi_stage_slim_and_runs_as_a_non_root_user() -> None:
    """Build in one stage, run from a slim base in another, as an unprivileged user, with no
    compiler or headers in the final stage."""
    stages = _stages()
    assert len(stages) >= 2
    final_name, final = stages[-1]
    assert "slim" in DOCKERFILE.read_text(encoding="utf-8").split("PYTHON_IMAGE=", 1)[1].split()[0]
    assert any(i.startswith("COPY --from=") for i in final)
    users = [i.split(None, 1)[1] for i in final if i.upper().startswith("USER ")]
    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in {"0", "root"}
    assert not [i for i in final if i.upper().startswith("RUN") and BUILD_TOOLS.search(i)]
    assert final_name != stages[0][0]


def test_image_runs_any_service_by_command() -> None:
    """`docker run IMAGE <module>`: python -m is the entrypoint, the gateway the default."""
    final = _stages()[-1][1]
    assert 'ENTRYPOINT ["python", "-m"]' in final
    assert 'CMD ["gateway"]' in final


def test_compose_brings_up_the_suite_with_its_data_stores() -> None:
    """PostgreSQL, Redis, RabbitMQ, a one-shot migration, and the four services from the image,
    started after the migration; the gateway published on 8080 as with `make run`."""
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"postgres", "redis", "rabbitmq", "migrate", *SERVICES} <= set(services)
    assert services["migrate"]["command"] == ["shared.migrations"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in SERVICES:
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert service["command"] == [name]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert set(service["environment"]) <= setting_names(), "only variables the suite reads"
        assert {"DATABASE_URL", "REDIS_URL", "AMQP_URL"} <= set(service["environment"])
    assert any(p.endswith(":8080") for p in services["gateway"]["ports"])
    for store in ("postgres", "redis", "rabbitmq"):
        assert "healthcheck" in services[store]


def test_dockerfile_needs_no_syntax_frontend():
    """Plain syntax that BuildKit's built-in frontend and podman/buildah both read: no
    `# syntax=` line to pull, no heredocs, no RUN --mount; the dependencies come from the lock."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    instructions = [i for _, stage in _stages() for i in stage]
    assert not [i for i in instructions if "<<" in i or "--mount" in i]
    assert "COPY requirements.lock ./" in instructions
    assert any("--require-hashes" in i for i in instructions if i.startswith("RUN "))


def test_make_image_builds_what_the_helm_chart_runs_by_default():
    """`make image` tags <image.repository>:<appVersion>, and appVersion is the project's."""
    chart = yaml.safe_load((ROOT / "deploy/helm/customer-suite/Chart.yaml").read_text())
    values = yaml.safe_load((ROOT / "deploy/helm/customer-suite/values.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]
    assert values["image"]["tag"] in ("", chart["appVersion"])
    made = subprocess.run(
        ["make", "-s", "--no-print-directory", "image-name"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()  # fmt: skip
    assert made == f"{values['image']['repository']}:{chart['appVersion']}"
