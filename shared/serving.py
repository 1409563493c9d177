"""Serving an app until SIGTERM/SIGINT, then draining it: what `web.run_app` does, in an order
that lets the requests in flight finish.

aiohttp's own graceful shutdown marks every connection closing *before* it waits for the
handlers, and a closing connection drops whatever the client still sends (aio-libs/aiohttp#2298):
a handler still reading its request body (an upload streaming through the gateway, a JSON body
in several packets) waits for bytes that are thrown away, and is cancelled at the end of the
grace period. So: stop listening, let the handlers in flight finish while their connections still
read, and only then hand over to aiohttp's shutdown (idle connections, then cleanup contexts:
pools, background tasks).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger("serving")

# After the drain only idle connections and responses being flushed are left for aiohttp's own
# shutdown; a handler still running by then has overrun the grace period and is cancelled.
_AFTER_DRAIN_SECONDS = 1.0


class InFlight:
    """Counts the requests inside the app's handlers; `wait_idle` waits for none to be left."""

    def __init__(self) -> None:
        self.count = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.count += 1
        self._idle.clear()
        try:
            response = await handler(request)
            if self.draining and not response.prepared:
                response.force_close()  # a keep-alive client should reconnect elsewhere
            return response
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """True once no request is in flight; False if some still are after `timeout`."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


async def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    grace_seconds: float,
    stop: asyncio.Event | None = None,
    admin: tuple[web.Application, int] | None = None,
) -> None:
    """Serve `app` until SIGTERM/SIGINT (or `stop` is set), then stop accepting, give the
    requests in flight up to `grace_seconds` to finish, and run the app's cleanup.

    `admin` (an operational app and its port) is served from after `app` has started (its
    readiness checks exist by then) until `app` has been cleaned up: metrics stay readable
    while the requests in flight drain."""
    in_flight = InFlight()
    app.middlewares.insert(0, in_flight.middleware)  # outermost: counts the whole handling
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_AFTER_DRAIN_SECONDS)
    admin_runner: web.AppRunner | None = None
    await runner.setup()
    try:
        if admin is not None:
            admin_runner = web.AppRunner(admin[0], access_log=None, shutdown_timeout=0.5)
            await admin_runner.setup()
            await web.TCPSite(admin_runner, host, admin[1]).start()
            log.info("serving admin routes", host=host, port=admin[1])
        site = web.TCPSite(runner, host, port)
        await site.start()
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("serving", host=host, port=port)
        await stop.wait()
        log.info("stopping: no new connections, draining", in_flight=in_flight.count)
        in_flight.draining = True
        await site.stop()
        await asyncio.sleep(0)  # requests read just before the stop enter their handlers
        if not await in_flight.wait_idle(grace_seconds):
            log.warning("grace period over, cancelling requests", in_flight=in_flight.count)
    finally:
        await runner.cleanup()
        if admin_runner is not None:
            await admin_runner.cleanup()
    log.info("stopped")
