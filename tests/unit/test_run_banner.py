"""`make run REPLICAS=N`'s banner names every gateway's admin port (replica i at +100 * i)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from shared.settings import load_settings

RUN_PY = Path(__file__).resolve().parents[2] / "deploy" / "local" / "run.py"
CREDENTIALS = {"tenant": "demo", "client_id": "c", "client_secret": "s"}


def _run_module():
    spec = importlib.util.spec_from_file_location("deploy_local_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_process_names_the_admin_port(tmp_path, monkeypatch):
    monkeypatch.setenv("GATEWAY_ADMIN_PORT", "8084")
    banner = _run_module()._banner(load_settings(None), CREDENTIALS, tmp_path, 1)
    assert "http://127.0.0.1:8084/metrics" in banner


def test_replicas_name_each_gateways_admin_port(tmp_path, monkeypatch):
    monkeypatch.setenv("GATEWAY_ADMIN_PORT", "8084")
    banner = _run_module()._banner(load_settings(None), CREDENTIALS, tmp_path, 3)
    assert "3 replicas" in banner
    for port in (8184, 8284, 8384):
        assert f"http://127.0.0.1:{port}/metrics" in banner
    assert ":8084/" not in banner  # nothing listens there with replicas
