"""The gateway's route table reaches TWC v1's two resources (API.md §12) and nothing more."""

from __future__ import annotations

import pytest

from gateway.upstreams import build_routes, resolve
from shared.settings import Settings

ROUTES = build_routes(Settings())


@pytest.mark.parametrize(
    ("public", "upstream"),
    [
        ("/services/customerservice/api/customers", "/api/customers"),
        ("/services/customerservice/api/customers/", "/api/customers"),
        ("/services/customerservice/api/customers/450789469", "/api/customers/450789469"),
        ("/services/customerservice/api/upload-customers", "/api/upload-customers"),
        ("/services/customerservice/api/v2/order-events", "/api/v2/order-events"),
    ],
)
def test_v1_and_order_paths_reach_customer_service(public: str, upstream: str) -> None:
    target = resolve(ROUTES, public)
    assert target is not None
    assert target.upstream_path == upstream
    assert target.route.authenticated


@pytest.mark.parametrize(
    "public",
    [
        "/services/customerservice/api/import/batch",
        "/services/customerservice/api/customersx",
        "/services/customerservice/metrics",
        "/services/customerservice/api",
    ],
)
def test_other_paths_under_the_prefix_reach_nothing(public: str) -> None:
    assert resolve(ROUTES, public) is None
