"""``GET /_emulator/events``: server-sent events (``text/event-stream``), one ``id: N`` and ``data:
{json}`` per event of :mod:`emulator.events`, from the moment the stream opened (its first line, the
comment ``: mcemu events, last id N``, says so), and a ``: keepalive`` comment every 15 s of quiet.
Query: ``type`` (comma-separated types; repeatable), ``flow_id``, and ``after`` (an event id: first
replay the kept events after it; a reconnecting EventSource's ``Last-Event-ID`` header does the same).
A reader more than 1000 events behind loses the newest ones and then gets one ``{"type":
"events.dropped", "dropped": N}`` (without an id) before the next event.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from ...errors import InvalidValue
from ...events import EVENT_TYPES, EventBus, matches
from ..errors import ADMIN_PREFIX, install_error_middleware

__all__ = ["KEEPALIVE_S", "add_event_routes"]

logger = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
"""Seconds of quiet after which an event stream gets a ``: keepalive`` comment."""

_STREAMS_KEY = web.AppKey("mcemu.event_streams", set)


def _sse(event: dict[str, Any]) -> bytes:
    head = f"id: {event['id']}\n" if "id" in event else ""
    return f"{head}data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def add_event_routes(app: web.Application, bus: EventBus, *, keepalive_s: float = KEEPALIVE_S) -> None:
    """Add ``GET /_emulator/events`` (see the module docstring) for ``bus``."""
    install_error_middleware(app)
    streams: set[asyncio.Event] = set()
    app[_STREAMS_KEY] = streams

    async def end_streams(app: web.Application) -> None:
        for stop in list(streams):  # an open stream would hold the server's shutdown for a minute
            stop.set()

    app.on_shutdown.append(end_streams)

    async def events(request: web.Request) -> web.StreamResponse:
        types = [t for v in request.query.getall("type", []) for t in v.split(",") if t] or None
        unknown = sorted(set(types or ()) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
        match = {"flow_id": request.query["flow_id"]} if request.query.get("flow_id") else {}
        after_text = request.query.get("after") or request.headers.get("Last-Event-ID")
        try:
            after = int(after_text) if after_text else None
        except ValueError:
            raise InvalidValue("after", f"{after_text!r} is not an event id") from None
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        ready, stop = asyncio.Event(), asyncio.Event()
        streams.add(stop)
        sub = bus.subscribe(types=types, match=match, wakeup=ready.set)
        last = bus.last_id
        try:
            await response.write(f": mcemu events, last id {last}\n\n".encode())
            if after is not None:
                for event in bus.history(after=after):
                    if matches(event, types, match):
                        await response.write(_sse(event))
            stopping = asyncio.ensure_future(stop.wait())
            try:
                while not stop.is_set():
                    waiting = asyncio.ensure_future(ready.wait())
                    done, _ = await asyncio.wait(
                        {waiting, stopping}, timeout=keepalive_s, return_when=asyncio.FIRST_COMPLETED
                    )
                    waiting.cancel()
                    if not done:
                        await response.write(b": keepalive\n\n")
                        continue
                    ready.clear()
                    taken, dropped, sub.dropped = sub.take(), sub.dropped, 0
                    for event in taken:
                        if event["id"] > last:
                            await response.write(_sse(event))
                    if dropped:  # what came after the queued ones and found the queue full
                        await response.write(_sse({"type": "events.dropped", "dropped": dropped}))
                        ready.set()  # events that arrived while writing
            finally:
                stopping.cancel()
        except (ConnectionError, RuntimeError) as exc:  # the reader went away
            logger.debug("event stream to %s ended: %s", request.remote, exc)
        finally:
            bus.unsubscribe(sub)
            streams.discard(stop)
        return response

    app.router.add_get(f"{ADMIN_PREFIX}/events", events)
