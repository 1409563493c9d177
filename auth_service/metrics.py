"""auth_service's Prometheus registry (shared.metrics.ServiceMetrics) and its own families."""

from __future__ import annotations

from prometheus_client import Counter

from shared.metrics import ServiceMetrics

SERVICE_METRICS = ServiceMetrics()
REGISTRY = SERVICE_METRICS.registry

TOKENS_ISSUED = Counter("tokens_issued_total", "Access tokens issued", registry=REGISTRY)
# Refused token requests count (by OAuth error code) in the family every service has.
TOKENS_REFUSED = SERVICE_METRICS.tokens_refused
