"""A generic consume loop: one robust RabbitMQ connection feeding handlers with manual acks.

A handler gets each message and either returns (the message is acked: its work committed),
raises `PoisonMessage` (rejected without requeue: the queue dead-letters it at once), or raises
anything else (requeued after a short pause; the quorum queue's delivery limit dead-letters a
message that keeps failing). Every message gives one log line and one metric count.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustQueue,
    ConsumerTag,
)

from shared.amqp import connect, declare_topology
from shared.db import CONNECTION_ERRORS
from shared.errors import Unavailable
from shared.identifiers import is_request_id
from shared.metrics import MESSAGES_CONSUMED, MESSAGES_REDELIVERED
from shared.web import REQUEST_ID_HEADER

log = structlog.get_logger("consumer")

Handler = Callable[[AbstractIncomingMessage], Awaitable[None]]

PROCESSED = "processed"
RETRY = "retry"
POISON = "poison"

# API.md §1's request id: 1-128 characters of [A-Za-z0-9._-].

# Failures expected while a dependency is down: logged without a traceback.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, Unavailable)


class PoisonMessage(Exception):
    """The message can never be handled (malformed): dead-letter it, never retry.
    The text is logged, so it must not contain personal data."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """Which queue feeds which handler."""

    queue: str
    handler: Handler


class Consumer:
    """Consumes `subscriptions` until stopped.

    `start` returns at once and connects in the background, retrying with backoff, so the
    service starts while RabbitMQ is down (`ping` fails meanwhile). Once connected, the robust
    connection restores the channel, its prefetch and its consumers after a broker restart.
    `stop` cancels consuming, lets in-flight messages finish, and closes what it opened.
    """

    def __init__(
        self,
        url: str,
        subscriptions: Sequence[Subscription],
        *,
        prefetch_count: int = 32,
        connection: AbstractRobustConnection | None = None,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        retry_delay: float = 0.5,
        max_retry_delay: float = 10.0,
    ) -> None:
        self._url = url
        self._subscriptions = tuple(subscriptions)
        self._prefetch_count = prefetch_count
        # A connection handed in belongs to the caller: used, never closed here.
        self._own_connection = connection is None
        self._connection = connection
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._channel: AbstractRobustChannel | None = None
        self._consumers: list[tuple[AbstractRobustQueue, ConsumerTag]] = []
        self._in_flight: set[asyncio.Task] = set()
        self._stopping = asyncio.Event()
        self._connector: asyncio.Task | None = None

    def start(self) -> None:
        self._connector = asyncio.create_task(self._connect_with_backoff(), name="amqp-consumer")

    async def ping(self) -> None:
        """Readiness probe: connected, with a channel open and every queue consumed."""
        connection, channel = self._connection, self._channel
        if (
            connection is None
            or not connection.connected.is_set()
            or channel is None
            or channel.is_closed
            or len(self._consumers) != len(self._subscriptions)
        ):
            raise ConnectionError("Not consuming from RabbitMQ.")

    async def stop(self, *, grace: float = 10.0) -> None:
        """Stop taking messages, give in-flight ones `grace` seconds to finish, then close."""
        self._stopping.set()
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        for queue, tag in self._consumers:
            with contextlib.suppress(Exception):  # the broker may be gone: nothing to cancel
                await queue.cancel(tag, timeout=2)
        self._consumers.clear()
        await self._drain(grace)
        await self._close()

    async def _connect_with_backoff(self) -> None:
        backoff = self._min_backoff
        while not self._stopping.is_set():
            try:
                await self._open()
            except Exception as exc:  # RabbitMQ down or refusing: keep trying, never die
                log.warning(
                    "rabbitmq unavailable, retrying", error=type(exc).__name__, retry_in=backoff
                )
                await self._close()
                await self._sleep_unless_stopping(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            log.info("consuming", queues=[s.queue for s in self._subscriptions])
            return

    async def _open(self) -> None:
        if self._connection is None:
            self._connection = await connect(self._url)
        channel = await self._connection.channel()
        self._channel = channel
        await channel.set_qos(prefetch_count=self._prefetch_count)
        await declare_topology(channel)
        for subscription in self._subscriptions:
            queue = await channel.get_queue(subscription.queue)
            tag = await queue.consume(self._callback(subscription))
            self._consumers.append((queue, tag))

    def _callback(self, subscription: Subscription) -> Handler:
        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._in_flight.add(task)
            try:
                await self._consume_one(subscription, message)
            finally:
                self._in_flight.discard(task)

        return on_message

    async def _consume_one(
        self, subscription: Subscription, message: AbstractIncomingMessage
    ) -> None:
        # aio-pika runs each delivery in a task of its own, so this context is this message's.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            queue=subscription.queue, message_id=message.message_id
        )
        request_id = _request_id(message)
        if request_id is not None:  # API.md §1: the request's id in every line of its handling
            structlog.contextvars.bind_contextvars(request_id=request_id)
        if message.redelivered:
            MESSAGES_REDELIVERED.labels(subscription.queue).inc()
        if self._stopping.is_set():  # delivered while stopping: leave it to another worker
            await message.nack(requeue=True)
            return
        started = time.perf_counter()
        outcome, error = PROCESSED, None
        try:
            # process(): ack after the handler returns; an error escaping it requeues.
            async with message.process(requeue=True, ignore_processed=True):
                try:
                    await subscription.handler(message)
                except PoisonMessage as exc:
                    outcome, error = POISON, exc
                    await message.reject(requeue=False)
                except Exception as exc:
                    outcome, error = RETRY, exc
                    await self._pause_before_retry(message)
                    raise
        except Exception as exc:
            if outcome != RETRY:  # the ack or reject was lost: the broker redelivers, harmlessly
                outcome, error = RETRY, exc
        MESSAGES_CONSUMED.labels(subscription.queue, outcome).inc()
        self._log_outcome(
            outcome, error, duration_ms=round((time.perf_counter() - started) * 1000, 1)
        )

    def _log_outcome(
        self, outcome: str, error: BaseException | None, *, duration_ms: float
    ) -> None:
        if outcome == PROCESSED:
            log.info("message handled", outcome=outcome, duration_ms=duration_ms)
        elif outcome == POISON:
            log.error(
                "message handled", outcome=outcome, reason=str(error), duration_ms=duration_ms
            )
        elif isinstance(error, TRANSIENT_ERRORS):
            log.warning(
                "message handled",
                outcome=outcome,
                error=type(error).__name__,
                duration_ms=duration_ms,
            )
        else:
            log.error(
                "message handled",
                outcome=outcome,
                error=type(error).__name__,
                duration_ms=duration_ms,
                exc_info=error,
            )

    async def _pause_before_retry(self, message: AbstractIncomingMessage) -> None:
        # Requeueing at once would spend the delivery limit in milliseconds during a short
        # outage; pausing (longer each delivery) spreads the attempts over several seconds.
        attempt = _delivery_count(message)
        delay = min(self._retry_delay * 2**attempt, self._max_retry_delay)
        await self._sleep_unless_stopping(delay)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _drain(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        while self._in_flight and (remaining := deadline - time.monotonic()) > 0:
            await asyncio.wait(set(self._in_flight), timeout=remaining)
        for task in set(self._in_flight):  # past the grace period: unacked, so redelivered
            task.cancel()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=2)

    async def _close(self) -> None:
        channel, self._channel = self._channel, None
        self._consumers.clear()
        if channel is not None:
            with contextlib.suppress(Exception):
                await channel.close()
        if self._own_connection and self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                await connection.close()


def _request_id(message: AbstractIncomingMessage) -> str | None:
    """The id of the request that queued the message (customer_service's outbox relay sends it
    as a header). Anyone who may publish can set headers: a value that is not a request id as
    API.md §1 defines it is ignored, so nothing else reaches the logs."""
    value = (message.headers or {}).get(REQUEST_ID_HEADER)
    if isinstance(value, bytes):  # a header a foreign client sent as a byte string
        value = value.decode("ascii", "replace")
    return value if is_request_id(value) else None


def _delivery_count(message: AbstractIncomingMessage) -> int:
    """How often the message was delivered before (quorum queues count it in a header)."""
    count = (message.headers or {}).get("x-delivery-count", 0)
    return count if isinstance(count, int) and count >= 0 else 0
