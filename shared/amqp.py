"""RabbitMQ: one robust connection, the suite's topology, and a publisher with confirms.

Routing keys and exchange names live here so producer and consumer cannot disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aio_pika.connection import make_url
from pamqp.commands import Basic

CUSTOMER_EVENTS_EXCHANGE = "customer.events"
IMPEX_EXCHANGE = "impex"
IMPEX_EVENTS_EXCHANGE = "impex.events"
DEAD_LETTER_EXCHANGE = "customer-suite.dead-letter"
# One-time codes for the retailer's own SMS/email sender (API.md §10); the suite sends nothing.
SHOPPER_NOTIFICATIONS_EXCHANGE = "shopper.notifications"
ORDER_EVENTS_EXCHANGE = "order.events"

CUSTOMER_CREATED = "customer.created"
CUSTOMER_UPDATED = "customer.updated"
CUSTOMER_DELETED = "customer.deleted"
# One per committed import chunk, naming its created and updated customers (API.md §5).
CUSTOMER_IMPORTED = "customer.imported"
CUSTOMERS_IMPORT = "customers.import"
IMPEX_BATCH_COMPLETED = "impex.batch.completed"
IMPEX_BATCH_FAILED = "impex.batch.failed"
SHOPPER_OTP_REQUESTED = "shopper.otp.requested"
ORDER_UPSERTED = "order.upserted"

DEAD_LETTER_QUEUE = "customer-suite.dead-letter"
CUSTOMER_DELETED_QUEUE = "impex_worker.customer-deleted"
IMPORTS_QUEUE = "impex_worker.imports"
ORDERS_QUEUE = "impex_worker.orders"
# Dead-lettered import messages (a copy; the suite's DLQ keeps its own), so the worker can mark
# their batches ERROR.
IMPORTS_DEAD_LETTER_QUEUE = "impex_worker.imports.dead-letters"
# A message is delivered at most this many times before it is dead-lettered as poison.
DELIVERY_LIMIT = 5
# How long the first connect (TCP, AMQP handshake, login) may take.
CONNECT_TIMEOUT = 5.0


async def connect(url: str) -> AbstractRobustConnection:
    """A connection that reconnects by itself and restores its channels and consumers.

    A first connect that fails or is cancelled closes the connection it began: aio-pika's
    reconnect task outlives a cancelled `connect_robust` (it swallows the cancellation and
    retries forever), which kept event loops from ever closing (a service stopped, or a test
    ended, while its first connect was under way)."""
    connection = aio_pika.RobustConnection(make_url(url))
    try:
        await connection.connect(timeout=CONNECT_TIMEOUT)
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(connection.close())
        raise
    return connection


async def declare_topology(channel: AbstractChannel) -> None:
    """Declare every exchange and queue of the suite (idempotent; each service may call it)."""
    topic = aio_pika.ExchangeType.TOPIC
    customer_events = await channel.declare_exchange(CUSTOMER_EVENTS_EXCHANGE, topic, durable=True)
    impex = await channel.declare_exchange(IMPEX_EXCHANGE, topic, durable=True)
    await channel.declare_exchange(IMPEX_EVENTS_EXCHANGE, topic, durable=True)
    await channel.declare_exchange(SHOPPER_NOTIFICATIONS_EXCHANGE, topic, durable=True)
    order_events = await channel.declare_exchange(ORDER_EVENTS_EXCHANGE, topic, durable=True)
    dead_letters = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, topic, durable=True)
    dlq = await channel.declare_queue(
        DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dlq.bind(dead_letters, routing_key="#")
    work_queue_args = {
        # Quorum queues count deliveries themselves and dead-letter past the limit, so a
        # poison message cannot loop forever even if a worker crashes while handling it.
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
    }
    deleted_queue = await channel.declare_queue(
        CUSTOMER_DELETED_QUEUE, durable=True, arguments=work_queue_args
    )
    await deleted_queue.bind(customer_events, routing_key=CUSTOMER_DELETED)
    imports_queue = await channel.declare_queue(
        IMPORTS_QUEUE, durable=True, arguments=work_queue_args
    )
    await imports_queue.bind(impex, routing_key=CUSTOMERS_IMPORT)
    orders_queue = await channel.declare_queue(
        ORDERS_QUEUE, durable=True, arguments=work_queue_args
    )
    await orders_queue.bind(order_events, routing_key=ORDER_UPSERTED)
    # Dead-lettered messages keep their routing key, so this sees only the import queue's.
    imports_dead = await channel.declare_queue(
        IMPORTS_DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await imports_dead.bind(dead_letters, routing_key=CUSTOMERS_IMPORT)


_PERSISTENT = 2  # AMQP delivery mode: written to disk by the broker
# How long opening a confirm channel, and one publish with its confirm, may take. Without a bound
# a publish during a broker restart can wait forever: a channel opened on the robust connection's
# dead transport waits for that transport to come back, which it never does (the robust
# connection reconnects on a new one), and a confirm the dead broker never sends never arrives.
OPEN_TIMEOUT = 5.0
PUBLISH_TIMEOUT = 10.0


class Publisher:
    """Publishes persistent JSON messages on a confirm channel: `publish` returns once the
    broker has taken responsibility for the message. Connects lazily, so a service starts while
    RabbitMQ is still down; a failed publish raises and the caller retries later. Neither opening
    a channel nor a publish waits longer than its timeout: while the broker is away they raise
    (TimeoutError at worst), and once the robust connection is back a new channel is opened."""

    def __init__(
        self,
        url: str,
        *,
        open_timeout: float = OPEN_TIMEOUT,
        publish_timeout: float = PUBLISH_TIMEOUT,
    ) -> None:
        self._url = url
        self._open_timeout = open_timeout
        self._publish_timeout = publish_timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()
        # Closes of dropped channels and connections still under way (see _reset).
        self._closing: set[asyncio.Task] = set()

    async def _ensure_channel(self) -> AbstractChannel:
        if self._channel is not None and not self._channel.is_closed:
            return self._channel
        # A pipeline's publishes queue here while one opens the channel: each waits at most
        # `open_timeout`, so against a broker that is away they all fail together, not in turn.
        async with asyncio.timeout(self._open_timeout):
            await self._lock.acquire()
        try:
            return await self._open_channel()
        finally:
            self._lock.release()

    async def _open_channel(self) -> AbstractChannel:
        if self._channel is not None and not self._channel.is_closed:
            return self._channel  # opened while this publish waited for the lock
        if self._connection is None:
            self._connection = await connect(self._url)
            channel = await self._connection.channel()
            await declare_topology(channel)
            await channel.close()
        # A plain channel, not the robust connection's self-restoring kind: when the broker
        # closes it over a refused publish (an unknown exchange), a robust one reopens under the
        # same number while the next publish is already on its way, and the broker then closes
        # the whole connection for good. A closed plain channel is replaced here, by a new one,
        # before the next publish. Only on a live transport: after a broker restart the robust
        # connection is `ready` once it has reconnected.
        try:
            async with asyncio.timeout(self._open_timeout):
                await self._connection.ready()
                channel = aio_pika.Channel(self._connection, publisher_confirms=True)
                await channel.initialize()
        except TimeoutError:
            await self._reset()  # see _discard
            raise
        self._channel = channel
        return channel

    async def ping(self) -> None:
        """Readiness probe: a confirm channel can be opened."""
        channel = await self._ensure_channel()
        if channel.is_closed:
            raise ConnectionError("RabbitMQ channel is closed")

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: dict[str, Any],
        *,
        message_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Publish `body` as JSON; `headers` become the message's AMQP headers (ids only).

        Straight on the underlying aiormq channel: aio-pika's Message and Exchange objects cost
        a third of the relay's CPU per event. A Nack still raises (aiormq's DeliveryError)."""
        channel = await self._ensure_channel()
        underlay = await channel.get_underlay_channel()
        try:
            await underlay.basic_publish(
                orjson.dumps(body),
                exchange=exchange,
                routing_key=routing_key,
                properties=Basic.Properties(
                    content_type="application/json",
                    delivery_mode=_PERSISTENT,
                    message_id=message_id,
                    headers=dict(headers) if headers else None,
                ),
                timeout=self._publish_timeout,
            )
        except TimeoutError:
            # No confirm in time (a broker just restarted may never confirm what it took while
            # its queues recovered): the next publish goes out on a new channel.
            await self._discard(channel)
            raise

    async def _discard(self, channel: AbstractChannel) -> None:
        """Drop the channel and its connection: the next publish connects afresh. A broker back
        from a crash can leave the robust connection's reconnect, or a channel's confirms,
        stalled for good; a new connection does not inherit that."""
        if self._channel is not channel:
            return  # already replaced (a pipeline's other publishes timed out too)
        await self._reset()

    async def _reset(self) -> None:
        channel, connection = self._channel, self._connection
        self._channel = self._connection = None
        # In a task of its own: a relay cancelled meanwhile (the service stopping) must not
        # leave the dropped connection open, its reconnect task running after the app closed.
        # `close` waits for it.
        closing = asyncio.create_task(self._close_quietly(channel, connection))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        await asyncio.shield(closing)

    async def _close_quietly(
        self, channel: AbstractChannel | None, connection: AbstractRobustConnection | None
    ) -> None:
        """Close the channel, then its connection (closed only by its connection, the
        channel's close callback would still be a pending task when the event loop ends);
        neither waits longer than `open_timeout` for a broker that does not answer."""
        for closable in (channel, connection):
            if closable is None or (closable is channel and channel.is_closed):
                continue
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._open_timeout):
                    await closable.close()

    async def close(self) -> None:
        channel, connection = self._channel, self._connection
        self._channel = self._connection = None
        await self._close_quietly(channel, connection)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
