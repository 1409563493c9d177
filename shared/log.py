"""structlog set up once per entrypoint: one JSON object per line, context from contextvars."""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
import structlog


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route structlog and stdlib logging to JSON lines on stdout, tagged with the service name."""
    global _access
    log_level = getattr(logging, level.upper(), logging.INFO)
    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    processors: list[structlog.types.Processor] = [
        *shared_processors,
        structlog.processors.format_exc_info,
        structlog.processors.EventRenamer("msg"),
        _add_service(service),
        structlog.processors.JSONRenderer(serializer=_dumps),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(log_level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    _access = _AccessLine(processors, service, sys.stdout) if log_level <= logging.INFO else None
    # Libraries (aiohttp, aio-pika, asyncpg) log through stdlib logging: render them the same way.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared_processors, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.EventRenamer("msg"),
            _add_service(service),
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(log_level, logging.INFO))
    # aiohttp's own access log would duplicate ours, and it carries no request id.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    # aiormq logs every failed reconnect at ERROR; our consumers log the outage once themselves.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)


class _AccessLine:
    """The access line as the chain above renders it (the same keys, order and JSON), written
    directly: the chain's calls took about half of the line's ~35 µs, on every request."""

    __slots__ = ("_second", "_second_text", "file", "processors", "service")

    def __init__(self, processors: list, service: str, file: TextIO) -> None:
        self.processors = processors
        self.service = service
        self.file = file
        self._second = -1
        self._second_text = ""

    def _timestamp(self) -> str:
        """TimeStamper(fmt="iso", utc=True)'s text, the date and time formatted once a second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{int((now - second) * 1_000_000):06d}Z"

    def write(self, event: str, fields: dict[str, Any]) -> None:
        line = dict(fields)
        line["event"] = event
        for key, value in structlog.contextvars.get_contextvars().items():
            line.setdefault(key, value)
        line["level"] = "info"
        line["timestamp"] = self._timestamp()
        line["msg"] = line.pop("event")
        line.setdefault("service", self.service)
        self.file.write(_dumps(line, default=repr) + "\n")
        self.file.flush()


_access: _AccessLine | None = None
_http_log = structlog.get_logger("http")


def log_access(event: str, **fields: Any) -> None:
    """One access-log line at INFO: `log.info(event, **fields)` of the logger "http", rendered
    without the processor chain while structlog is configured as `configure_logging` left it
    (anything else, e.g. `structlog.testing.capture_logs`, gets the ordinary call)."""
    access = _access
    if access is not None and structlog.get_config()["processors"] is access.processors:
        access.write(event, fields)
    else:
        _http_log.info(event, **fields)


def _dumps(event: dict, **options: object) -> str:
    # orjson: a fifth of the stdlib encoder's cost for an access-log line. structlog passes its
    # fallback for values JSON has no type for (repr) as `default`.
    return orjson.dumps(event, **options).decode()


def _add_service(service: str) -> structlog.types.Processor:
    def add(_logger: object, _name: str, event: dict) -> dict:
        event.setdefault("service", service)
        return event

    return add


def current_request_id() -> str | None:
    """The id of the request this work is done for, so the worker that handles its message logs
    it too (API.md §1). Read from the log context, where shared.web's middleware binds it for a
    request and impex_worker's consumer for a message that carried one: a batch re-queued or
    ended by the worker keeps the id of the request that queued it."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    return request_id if isinstance(request_id, str) else None


def fingerprint(value: str) -> str:
    """A short stable hash of `value`, for logging an identifier that is not known to be one:
    a `client_id` field that failed authentication may hold a pasted secret. Operators match it
    with `printf %s "$CLIENT_ID" | sha256sum | cut -c1-12`."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]
