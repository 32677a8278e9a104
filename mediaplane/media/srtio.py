"""SRT for the instruments: send and receive MPEG-TS payloads with our own SRT engine.

PyAV's FFmpeg has no libsrt, so the signal generator muxes MPEG-TS itself and hands 1316-byte
payloads to :func:`open_srt_sender`, and the probe receives payloads with :func:`open_srt_receiver`.
The URL is read as ffmpeg reads it (``srt://host:port?streamid=...&latency=...&passphrase=...``,
latency in microseconds). ``mode=caller`` (the default) calls the URL with :class:`SrtCaller`;
``mode=listener`` listens on it with an :class:`SrtListener` and serves (sender) or accepts (receiver)
any caller, whatever its stream id: that is how a test plays the far end of an emulator flow whose
input or output is an SRT caller. With port 0 the ``on_listen`` callback learns the bound port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from ..relay.hub import Hub, HubSignal, HubUnit, Subscription, UnitKind
from ..relay.routing import Peer, StreamPath
from ..srt import SrtCaller, SrtDirection, SrtListener, SrtMode, parse_srt_url

logger = logging.getLogger(__name__)


class _OneHub:
    """A router for a listening instrument: every caller publishes into, or plays from, one hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def route_publish(self, path: StreamPath, peer: Peer) -> Hub:
        return self.hub

    def route_play(self, path: StreamPath, peer: Peer) -> Subscription:
        return self.hub.subscribe(f"{peer[0]}:{peer[1]}")


@contextlib.asynccontextmanager
async def open_srt_sender(
    url: str, *, drain_s: float = 0.3, on_listen: Callable[[int], None] | None = None
) -> AsyncIterator[Callable[[bytes], None]]:
    """Call (or, with ``mode=listener``, serve) ``url`` as a sender; yields ``send(payload)``. On exit,
    waits ``drain_s`` for the last payloads to leave, then closes. Raises the caller's connection
    errors (``ConnectionRejected``, ``ConnectTimeout``) or ``OSError``."""
    host, port, config, mode = parse_srt_url(url)
    if mode is SrtMode.RENDEZVOUS:
        raise ValueError(f"rendezvous mode is not supported: {url}")
    hub = Hub("signal", cache_gop=False)
    owner = object()
    hub.claim(owner)
    endpoint: SrtCaller | SrtListener
    if mode is SrtMode.LISTENER:
        endpoint = SrtListener(_OneHub(hub), host=host, port=port, config=config, direction=SrtDirection.PLAY)
        await endpoint.start()
        if on_listen is not None:
            on_listen(endpoint.port)
    else:
        endpoint = SrtCaller(
            host, port, config=config, hub=hub, direction=SrtDirection.PUBLISH, name=f"signal {url}"
        )
        await endpoint.start()
    loop = asyncio.get_running_loop()

    def send(payload: bytes) -> None:
        now_ms = int(loop.time() * 1000)
        hub.feed(HubUnit(kind=UnitKind.FRAME, timestamp_ms=now_ms, size=len(payload), payload=payload))

    try:
        yield send
        await asyncio.sleep(drain_s)
    finally:
        hub.release(owner)
        await endpoint.close()
        hub.close()


@contextlib.asynccontextmanager
async def open_srt_receiver(
    url: str, on_payload: Callable[[bytes], None], *, on_listen: Callable[[int], None] | None = None
) -> AsyncIterator[asyncio.Future[None]]:
    """Call (or, with ``mode=listener``, accept callers on) ``url`` as a receiver and call ``on_payload``
    with every payload until the block exits. Yields a future that completes when a called connection
    ends (a listener's never does: callers may come back). Raises the caller's connection errors."""
    host, port, config, mode = parse_srt_url(url)
    if mode is SrtMode.RENDEZVOUS:
        raise ValueError(f"rendezvous mode is not supported: {url}")
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()
    if mode is SrtMode.LISTENER:
        hub = Hub("probe", cache_gop=False)
        sub = hub.subscribe("probe", max_queue_bytes=64 * 1024 * 1024)
        listener = SrtListener(
            _OneHub(hub), host=host, port=port, config=config, direction=SrtDirection.PUBLISH
        )
        await listener.start()
        if on_listen is not None:
            on_listen(listener.port)

        async def pump_hub() -> None:
            while True:
                item = await sub.get()
                if isinstance(item, HubUnit):
                    on_payload(item.payload)
                elif item is HubSignal.CLOSED:
                    return

        task = loop.create_task(pump_hub())
        try:
            yield ended
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await listener.close()
            hub.close()
        return

    caller = SrtCaller(host, port, config=config, direction=SrtDirection.PLAY, name=f"probe {url}")
    await caller.start()

    async def pump() -> None:
        try:
            async for payload in caller.payloads():
                on_payload(payload)
        finally:
            if not ended.done():
                ended.set_result(None)

    task = loop.create_task(pump())
    try:
        yield ended
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await caller.close()
