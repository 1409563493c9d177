"""Prometheus metrics shared by the services. Labels carry route templates, never ids or PII."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
DB_POOL_SIZE = Gauge("db_pool_connections", "Connections held by the asyncpg pool")
DB_POOL_IDLE = Gauge("db_pool_idle_connections", "Idle connections in the asyncpg pool")
OUTBOX_PUBLISHED = Counter("outbox_events_published_total", "Outbox events published", ["type"])
OUTBOX_BACKLOG = Gauge("outbox_backlog_events", "Outbox events not yet published")
MESSAGES_CONSUMED = Counter(
    "messages_consumed_total", "Broker messages handled", ["queue", "outcome"]
)
TOKENS_ISSUED = Counter("tokens_issued_total", "Access tokens issued")
TOKENS_REFUSED = Counter("tokens_refused_total", "Token requests or tokens refused", ["reason"])
RATE_LIMITED = Counter("rate_limited_requests_total", "Requests refused by the rate limiter")
