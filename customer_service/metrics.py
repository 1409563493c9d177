"""customer_service's Prometheus registry (shared.metrics.ServiceMetrics) and its own families."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from shared.metrics import ServiceMetrics

SERVICE_METRICS = ServiceMetrics()
REGISTRY = SERVICE_METRICS.registry

# --- Transactional outbox (backlog and age sampled at each scrape, outbox_metrics.py)
OUTBOX_PUBLISHED = Counter(
    "outbox_events_published_total", "Outbox events published", ["type"], registry=REGISTRY
)
OUTBOX_BACKLOG = Gauge(
    "outbox_backlog_events", "Outbox events not yet published", registry=REGISTRY
)
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_unsent_age_seconds",
    "Age of the oldest unpublished outbox event (0 if none)",
    registry=REGISTRY,
)
OUTBOX_PARKED = Counter(
    "outbox_events_parked_total",
    "Outbox events the broker refused OUTBOX_MAX_ATTEMPTS times, set aside unsent",
    ["type"],
    registry=REGISTRY,
)
OUTBOX_PARKED_NOW = Gauge(
    "outbox_parked_events", "Outbox events parked and not yet re-queued", registry=REGISTRY
)

# --- Import uploads: being received or stored right now, all tenants
IMPORT_UPLOADS_IN_PROGRESS = Gauge(
    "import_uploads_in_progress", "Import file uploads being received or stored", registry=REGISTRY
)

# --- Shopper logins
SHOPPER_LOGINS = Counter(
    "shopper_logins_total",
    "Shopper login attempts by method (password, otp) and outcome",
    ["method", "outcome"],
    registry=REGISTRY,
)
