"""The gateway's Prometheus registry (shared.metrics.ServiceMetrics) and its own families."""

from __future__ import annotations

from prometheus_client import Counter

from shared.metrics import ServiceMetrics

SERVICE_METRICS = ServiceMetrics()
REGISTRY = SERVICE_METRICS.registry

RATE_LIMITED = Counter(
    "rate_limited_requests_total",
    "Requests refused by the rate limiter",
    registry=REGISTRY,
)
