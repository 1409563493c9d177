"""The Helm chart, rendered and linted by Helm's own engine (helm-python-sdk, offline) with
default and production-like values, every object checked against the Kubernetes schemas."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.deploy.settings_names import setting_names

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "customer-suite"
KUBE_VERSION = "1.30.0"
COMPONENTS = ("gateway", "customer-service", "auth-service", "impex-worker")
SECRET_SETTINGS = {
    "DATABASE_URL",
    "WISHLIST_DATABASE_URL",
    "APP_DATABASE_URL",
    "REDIS_URL",
    "AMQP_URL",
    "PSEUDONYM_KEY",
}

_IN_NAMESPACE = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}}}
PRODUCTION_VALUES: dict[str, Any] = {
    "image": {"repository": "registry.example.com/customer-suite", "tag": "1.4.2"},
    "imagePullSecrets": [{"name": "registry"}],
    "publicBaseUrl": "https://customers.example.com",
    "existingSecret": "customer-suite-credentials",
    "config": {"logLevel": "WARNING", "dbPoolMax": 20, "trustedProxyCidrs": ["10.42.0.0/16"]},
    "dropVolume": {"existingClaim": "customer-suite-drop"},
    "gateway": {"autoscaling": {"minReplicas": 3, "maxReplicas": 30}},
    "impexWorker": {"autoscaling": {"enabled": False}, "replicas": 4},
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "1g"},
        "hosts": [
            {"host": "customers.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}
        ],
        "tls": [{"secretName": "customers-tls", "hosts": ["customers.example.com"]}],
    },
    "networkPolicy": {
        "gatewayFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}
        ],
        "metricsFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
        "dataStores": {
            "postgresql": {"ports": [5432], "to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}]},
            "redis": {
                "ports": [6379],
                "to": [{**_IN_NAMESPACE, "podSelector": {"matchLabels": {"app": "redis"}}}],
            },
            "rabbitmq": {
                "ports": [5671],
                "to": [{**_IN_NAMESPACE, "podSelector": {"matchLabels": {"app": "rabbitmq"}}}],
            },
        },
    },
}
VALUES = {"default": None, "production": PRODUCTION_VALUES}


def render(values: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every object of an install, hooks included, as Helm renders it."""
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(chart.merge_values(values))
        manifests = chart.render(values, name="suite", namespace="customers", is_install=True)
    return [
        document
        for name, text in sorted(manifests.items())
        if name.endswith(".yaml")
        for document in yaml.safe_load_all(text)
        if document
    ]


@pytest.fixture(scope="module", params=sorted(VALUES))
def objects(request) -> list[dict[str, Any]]:
    return render(VALUES[request.param])


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def component_of(obj: dict[str, Any]) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


@pytest.mark.parametrize("values", sorted(VALUES))
def test_chart_lints_without_warnings(values: str) -> None:
    """`helm lint --strict` finds nothing above an info (the icon) for either set of values."""
    report = helm.lint(CHART, VALUES[values], strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_every_rendered_object_is_a_valid_kubernetes_object(objects) -> None:
    """Each object validates against the Kubernetes schemas (strict: no unknown fields)."""
    for obj in objects:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def test_each_service_runs_as_a_hardened_probed_deployment_with_a_service(objects) -> None:
    """Four Deployments and Services; probes on /healthz and /readyz, resources, non-root,
    read-only root filesystem, every setting from the ConfigMap and the Secret."""
    deployments = {component_of(d): d for d in of_kind(objects, "Deployment").values()}
    services = {component_of(s): s for s in of_kind(objects, "Service").values()}
    assert set(deployments) == set(COMPONENTS) == set(services)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == [name.replace("-", "_")]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        sources = [next(iter(s.values()))["name"] for s in container["envFrom"]]
        assert len(sources) == 2
        port = container["ports"][0]["containerPort"]
        assert services[name]["spec"]["ports"][0]["port"] == port


# The secret settings the chart's own Secret holds: all of them, or none with existingSecret
# (the operator's Secret provides them then).
CHART_SECRET_KEYS = {"default": SECRET_SETTINGS, "production": set()}


@pytest.mark.parametrize("values", sorted(VALUES))
def test_every_setting_comes_from_the_configmap_or_the_secret(values: str) -> None:
    """Each variable shared/settings.py reads is set by the chart (secrets in a Secret)."""
    objects = render(VALUES[values])
    (configmap,) = of_kind(objects, "ConfigMap").values()
    secrets = [
        s for s in of_kind(objects, "Secret").values() if "migrations" not in s["metadata"]["name"]
    ]
    secret_keys = {key for s in secrets for key in s.get("stringData", {})}
    assert secret_keys == CHART_SECRET_KEYS[values]
    assert setting_names() <= set(configmap["data"]) | SECRET_SETTINGS
    assert not (set(configmap["data"]) & SECRET_SETTINGS), "secrets belong in a Secret"


def test_existing_secret_replaces_the_charts_secret() -> None:
    """With existingSecret the chart makes no Secret and every pod reads the operator's."""
    objects = render(PRODUCTION_VALUES)
    assert of_kind(objects, "Secret") == {}
    for obj in [*of_kind(objects, "Deployment").values(), *of_kind(objects, "Job").values()]:
        text = json.dumps(obj["spec"]["template"]["spec"])
        assert "customer-suite-credentials" in text


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(objects) -> None:
    """A Job applies the migrations before the services roll out, and is cleaned up."""
    (job,) = of_kind(objects, "Job").values()
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["shared.migrations"]
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_migration_jobs_own_secret_exists_before_the_job() -> None:
    """Whatever the job reads must exist before the release's own objects do: the chart's
    Secret for it is a hook of a lower weight (with existingSecret there is none: see
    test_existing_secret_replaces_the_charts_secret)."""
    objects = render(None)
    (secret,) = (
        s for s in of_kind(objects, "Secret").values() if "migrations" in s["metadata"]["name"]
    )
    annotations = secret["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert int(annotations["helm.sh/hook-weight"]) < 0


def test_only_the_gateway_is_exposed_by_an_ingress() -> None:
    objects = render(PRODUCTION_VALUES)
    (ingress,) = of_kind(objects, "Ingress").values()
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"suite-customer-suite-gateway"}
    assert of_kind(render(None), "Ingress") == {}


def test_each_service_has_an_autoscaler_and_a_disruption_budget() -> None:
    objects = render(None)
    autoscaled = {
        o["spec"]["scaleTargetRef"]["name"]
        for o in of_kind(objects, "HorizontalPodAutoscaler").values()
    }
    assert autoscaled == {f"suite-customer-suite-{c}" for c in COMPONENTS}
    budgets = {component_of(o) for o in of_kind(objects, "PodDisruptionBudget").values()}
    assert budgets == set(COMPONENTS)


def _ingress_sources(policy: dict[str, Any]) -> set[str]:
    sources = set()
    for rule in policy["spec"].get("ingress") or []:
        for peer in rule.get("from", [{"any": True}]):
            labels = peer.get("podSelector", {}).get("matchLabels", {})
            sources.add(labels.get("app.kubernetes.io/component", "other"))
    return sources


def test_network_policies_allow_gateway_to_services_and_services_to_data_stores() -> None:
    """Only the gateway (and customer-service, for the JWKS) reach the services; egress goes
    to the release's services, the data stores and DNS only."""
    policies = {
        component_of(p): p for p in of_kind(render(PRODUCTION_VALUES), "NetworkPolicy").values()
    }
    assert set(policies) == {*COMPONENTS, "migrations"}
    assert _ingress_sources(policies["customer-service"]) == {"gateway", "other"}  # + metrics
    assert _ingress_sources(policies["auth-service"]) == {"gateway", "customer-service", "other"}
    assert _ingress_sources(policies["impex-worker"]) == {"other"}  # metrics scrapers only
    assert policies["migrations"]["spec"]["ingress"] == []
    store_ports = {5432, 6379, 5671}
    data_ports = {*store_ports, 53}
    for name, policy in policies.items():
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        for rule in policy["spec"]["egress"]:
            ports = {p["port"] for p in rule["ports"]}
            peers = rule.get("to", [])
            to_services = all("app.kubernetes.io/component" in json.dumps(p) for p in peers)
            assert ports <= data_ports or (peers and to_services), (name, rule)
    # Every policy reaches some data store, and each such rule names its peers.
    store_rules = [
        (name, rule)
        for name, policy in policies.items()
        for rule in policy["spec"]["egress"]
        if {p["port"] for p in rule["ports"]} & store_ports
    ]
    assert {name for name, _ in store_rules} == set(policies)
    unnamed = [(name, rule) for name, rule in store_rules if not rule.get("to")]
    assert unnamed == [], "production data-store egress names its peers"


def test_values_schema_refuses_wrong_values() -> None:
    """values.schema.json catches typos and unsafe settings before anything renders."""
    with helm.Chart.load(CHART) as chart:
        for bad in (
            {"ports": {"gateway": "eighty"}},
            {"podSecurityContext": {"runAsNonRoot": False}},
            {"postgresql": {"url": "mysql://db/customers"}},
            {"gateway": {"replicaCount": 3}},
        ):
            with pytest.raises(helm.HelmValuesError):
                chart.validate_schema(chart.merge_values(bad))


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare(1) for a network namespace")
def test_chart_renders_and_lints_without_network() -> None:
    """helm-python-sdk needs no network: render and lint inside an empty network namespace."""
    script = (
        "import helm_python as helm, sys;"
        "c = helm.Chart.load(sys.argv[1]); c.render(None, name='x', namespace='y');"
        "assert not helm.lint(sys.argv[1])['errors']"
    )
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", script, str(CHART)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip("no permission to create a network namespace")
    assert result.returncode == 0, result.stderr


def test_gateway_metrics_and_probes_are_on_its_admin_port_only() -> None:
    """The gateway's /metrics is scraped on its admin port, which no Service exposes and only
    the metrics scrapers may reach; the public port's Service and policy stay as they were."""
    objects = render(PRODUCTION_VALUES)
    (gateway,) = (
        d for d in of_kind(objects, "Deployment").values() if component_of(d) == "gateway"
    )
    template = gateway["spec"]["template"]
    (container,) = template["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080, "admin": 8084}
    assert template["metadata"]["annotations"]["prometheus.io/port"] == "8084"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "admin"
    (configmap,) = of_kind(objects, "ConfigMap").values()
    assert configmap["data"]["GATEWAY_ADMIN_PORT"] == "8084"
    (service,) = (s for s in of_kind(objects, "Service").values() if component_of(s) == "gateway")
    assert [p["port"] for p in service["spec"]["ports"]] == [8080]
    (policy,) = (
        p for p in of_kind(objects, "NetworkPolicy").values() if component_of(p) == "gateway"
    )
    by_port = {
        port["port"]: rule["from"] for rule in policy["spec"]["ingress"] for port in rule["ports"]
    }
    assert by_port[8084] == PRODUCTION_VALUES["networkPolicy"]["metricsFrom"]
    assert by_port[8080] == PRODUCTION_VALUES["networkPolicy"]["gatewayFrom"]
