"""SRT for the instruments: send and receive MPEG-TS payloads with our own :class:`SrtCaller`.

PyAV's FFmpeg has no libsrt, so the signal generator muxes MPEG-TS itself and hands 1316-byte
payloads to :func:`open_srt_sender`, and the probe receives payloads with :func:`open_srt_receiver`.
The URL is read as ffmpeg reads it (``srt://host:port?streamid=...&latency=...&passphrase=...``,
latency in microseconds); only caller mode is supported (the instruments always call).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from ..relay.hub import Hub, HubUnit, UnitKind
from ..srt import SrtCaller, SrtMode, parse_srt_url

logger = logging.getLogger(__name__)


def _caller_for(url: str, direction: str, hub: Hub | None) -> SrtCaller:
    host, port, config, mode = parse_srt_url(url)
    if mode is not SrtMode.CALLER:
        raise ValueError(f"the test instruments only call: {url} asks for mode={mode.value}")
    return SrtCaller(host, port, config=config, hub=hub, direction=direction, name=f"instrument {url}")


@contextlib.asynccontextmanager
async def open_srt_sender(url: str, *, drain_s: float = 0.3) -> AsyncIterator[Callable[[bytes], None]]:
    """Connect to ``url`` as a publishing caller; yields ``send(payload)``. On exit, waits ``drain_s``
    for the last payloads to leave, then closes. Raises the caller's connection errors."""
    hub = Hub("signal", cache_gop=False)
    owner = object()
    hub.claim(owner)
    caller = _caller_for(url, "publish", hub)
    await caller.start()
    loop = asyncio.get_running_loop()

    def send(payload: bytes) -> None:
        hub.feed(
            HubUnit(
                kind=UnitKind.FRAME, timestamp_ms=int(loop.time() * 1000), size=len(payload), payload=payload
            )
        )

    try:
        yield send
        await asyncio.sleep(drain_s)
    finally:
        hub.release(owner)
        await caller.close()
        hub.close()


@contextlib.asynccontextmanager
async def open_srt_receiver(url: str, on_payload: Callable[[bytes], None]) -> AsyncIterator[SrtCaller]:
    """Connect to ``url`` as a receiving caller and call ``on_payload`` with every payload until the
    block exits or the connection ends. Raises the caller's connection errors."""
    caller = _caller_for(url, "receive", None)
    await caller.start()

    async def pump() -> None:
        async for payload in caller.payloads():
            on_payload(payload)

    task = asyncio.get_running_loop().create_task(pump())
    try:
        yield caller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await caller.close()
