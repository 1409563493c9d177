"""Prometheus metrics: each service keeps its own registry, exposed on its own `/metrics`.

`ServiceMetrics` holds one service's registry and the families every service has (HTTP, the
PostgreSQL pool, refused tokens). Each service builds exactly one, in its `metrics` module
(`customer_service/metrics.py`, …), declares its own families in the same registry, and hands it
to `create_base_app`; shared code finds it on the app (`shared.app_keys.METRICS`). So a service's
`/metrics` shows its own families only, and several services in one process (the tests) never
count into each other's.

Labels carry only bounded, non-personal values: route templates (never raw paths, which can
hold emails), methods, status codes, queue names, event types, outcomes and error kinds. Never
a tenant, customer, client or batch id.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

# `*_created` series double the count of series and tell nothing process_start_time does not.
disable_created_metrics()

HTTP_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ServiceMetrics:
    """One service's registry and the families every service exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        # What prometheus_client's global registry gives every process (process_*, python_*).
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        # --- HTTP (the gateway labels proxied requests with the public route template)
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_latency = Histogram(
            "http_request_duration_seconds",
            "Time to handle an HTTP request",
            ["method", "route"],
            buckets=HTTP_LATENCY_BUCKETS,
            registry=registry,
        )
        self.http_in_flight = Gauge(
            "http_requests_in_flight", "HTTP requests being handled", registry=registry
        )
        # --- PostgreSQL pool (sampled at each scrape)
        self.db_pool_size = Gauge(
            "db_pool_connections", "Connections held by the asyncpg pool", registry=registry
        )
        self.db_pool_idle = Gauge(
            "db_pool_idle_connections", "Idle connections in the asyncpg pool", registry=registry
        )
        self.db_pool_in_use = Gauge(
            "db_pool_in_use_connections", "Pool connections lent out right now", registry=registry
        )
        self.db_pool_max = Gauge(
            "db_pool_max_connections",
            "The most connections the pool may hold",
            registry=registry,
        )
        # --- Tokens refused (OAuth error code at auth_service, error kind where verified)
        self.tokens_refused = Counter(
            "tokens_refused_total",
            "Token requests refused (OAuth error code) or presented tokens refused (error kind)",
            ["reason"],
            registry=registry,
        )
        # The labelled children of the two per-request metrics, looked up once each: `labels()`
        # takes a lock and checks its arguments on every call. Bounded like the labels
        # themselves (routes are templates, statuses a few dozen).
        self._request_counters: dict[tuple[str, str, int], Any] = {}
        self._request_latencies: dict[tuple[str, str], Any] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one handled request and its duration."""
        counter = self._request_counters.get((method, route, status))
        if counter is None:
            counter = self._request_counters[method, route, status] = self.http_requests.labels(
                method, route, str(status)
            )
        counter.inc()
        latency = self._request_latencies.get((method, route))
        if latency is None:
            latency = self._request_latencies[method, route] = self.http_latency.labels(
                method, route
            )
        latency.observe(seconds)
