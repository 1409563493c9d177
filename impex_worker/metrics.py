"""impex_worker's Prometheus registry (shared.metrics.ServiceMetrics) and its own families."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from shared.metrics import ServiceMetrics

SERVICE_METRICS = ServiceMetrics()
REGISTRY = SERVICE_METRICS.registry

# --- Broker consumers
MESSAGES_CONSUMED = Counter(
    "messages_consumed_total",
    "Broker messages handled, by outcome (processed, retry, poison)",
    ["queue", "outcome"],
    registry=REGISTRY,
)
MESSAGES_REDELIVERED = Counter(
    "messages_redelivered_total",
    "Broker messages received again after an earlier delivery was not acknowledged",
    ["queue"],
    registry=REGISTRY,
)

# --- Imports (`outcome` is imported or failed: processed = imported + failed)
IMPORT_ROWS = Counter(
    "import_rows_total",
    "Import records processed, by outcome (imported, failed)",
    ["outcome"],
    registry=REGISTRY,
)
IMPORT_BATCHES = Counter(
    "import_batches_finished_total",
    "Import batches that ended, by final state (COMPLETED, ERROR, ABORTED)",
    ["state"],
    registry=REGISTRY,
)
IMPORT_BATCH_DURATION = Histogram(
    "import_batch_duration_seconds",
    "Time from a batch's processing start to its end",
    buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)

# Both outcomes exist from the first scrape, so rates and ratios work before the first import.
for _outcome in ("imported", "failed"):
    IMPORT_ROWS.labels(_outcome)
