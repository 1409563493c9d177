"""Prometheus metrics shared by the services, exposed on each one's `/metrics`.

Labels carry only bounded, non-personal values: route templates (never raw paths, which can
hold emails), methods, status codes, queue names, event types, outcomes and error kinds. Never
a tenant, customer, client or batch id.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# `*_created` series double the count of series and tell nothing process_start_time does not.
disable_created_metrics()

# --- HTTP (every service; the gateway labels proxied requests with the public route template)
HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to handle an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge("http_requests_in_flight", "HTTP requests being handled")

# The labelled children of the two per-request metrics, looked up once each: `labels()` takes a
# lock and checks its arguments on every call. Bounded like the labels themselves (routes are
# templates, statuses a few dozen).
_REQUEST_COUNTERS: dict[tuple[str, str, int], Any] = {}
_REQUEST_LATENCIES: dict[tuple[str, str], Any] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one handled request and its duration."""
    counter = _REQUEST_COUNTERS.get((method, route, status))
    if counter is None:
        counter = _REQUEST_COUNTERS[method, route, status] = HTTP_REQUESTS.labels(
            method, route, str(status)
        )
    counter.inc()
    latency = _REQUEST_LATENCIES.get((method, route))
    if latency is None:
        latency = _REQUEST_LATENCIES[method, route] = HTTP_LATENCY.labels(method, route)
    latency.observe(seconds)


# --- PostgreSQL pool (sampled at each scrape)
DB_POOL_SIZE = Gauge("db_pool_connections", "Connections held by the asyncpg pool")
DB_POOL_IDLE = Gauge("db_pool_idle_connections", "Idle connections in the asyncpg pool")
DB_POOL_IN_USE = Gauge("db_pool_in_use_connections", "Pool connections lent out right now")
DB_POOL_MAX = Gauge("db_pool_max_connections", "The most connections the pool may hold")

# --- Transactional outbox (customer_service; backlog and age sampled at each scrape)
OUTBOX_PUBLISHED = Counter("outbox_events_published_total", "Outbox events published", ["type"])
OUTBOX_BACKLOG = Gauge("outbox_backlog_events", "Outbox events not yet published")
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_unsent_age_seconds", "Age of the oldest unpublished outbox event (0 if none)"
)
OUTBOX_PARKED = Counter(
    "outbox_events_parked_total",
    "Outbox events the broker refused OUTBOX_MAX_ATTEMPTS times, set aside unsent",
    ["type"],
)
OUTBOX_PARKED_NOW = Gauge("outbox_parked_events", "Outbox events parked and not yet re-queued")

# --- Broker consumers (impex_worker)
MESSAGES_CONSUMED = Counter(
    "messages_consumed_total",
    "Broker messages handled, by outcome (processed, retry, poison)",
    ["queue", "outcome"],
)
MESSAGES_REDELIVERED = Counter(
    "messages_redelivered_total",
    "Broker messages received again after an earlier delivery was not acknowledged",
    ["queue"],
)

# --- Imports (impex_worker; `outcome` is imported or failed: processed = imported + failed)
IMPORT_ROWS = Counter(
    "import_rows_total", "Import records processed, by outcome (imported, failed)", ["outcome"]
)
IMPORT_BATCHES = Counter(
    "import_batches_finished_total",
    "Import batches that ended, by final state (COMPLETED, ERROR, ABORTED)",
    ["state"],
)
IMPORT_BATCH_DURATION = Histogram(
    "import_batch_duration_seconds",
    "Time from a batch's processing start to its end",
    buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)

# --- Import uploads (customer_service): being received or stored right now, all tenants
IMPORT_UPLOADS_IN_PROGRESS = Gauge(
    "import_uploads_in_progress", "Import file uploads being received or stored"
)

# --- Tokens and rate limits
TOKENS_ISSUED = Counter("tokens_issued_total", "Access tokens issued")
TOKENS_REFUSED = Counter(
    "tokens_refused_total",
    "Token requests refused (OAuth error code) or presented tokens refused (error kind)",
    ["reason"],
)
RATE_LIMITED = Counter("rate_limited_requests_total", "Requests refused by the rate limiter")
SHOPPER_LOGINS = Counter(
    "shopper_logins_total",
    "Shopper login attempts by method (password, otp) and outcome",
    ["method", "outcome"],
)

# Both outcomes exist from the first scrape, so rates and ratios work before the first import.
for _outcome in ("imported", "failed"):
    IMPORT_ROWS.labels(_outcome)
