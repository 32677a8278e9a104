"""Closing a client while media flows returns at once, every time.

On Python 3.11 ``asyncio.wait_for`` can swallow a cancellation that races with its read completing
(gh-86296); a puller closed mid-stream then read on until the server hung up (seen as a 10 s stall of
UpdateMediaConnectFlowStatus offline). Close must end the session whatever the race.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from mediaplane.relay import Hub, OpenRouter, StreamPath
from mediaplane.rtmp import RtmpPuller, RtmpServer
from mediaplane.rtmp.server import HubFeeder
from mediaplane.rtmp.synthetic import synthetic_stream


async def _feed(hub: Hub) -> None:
    """A paced 8 Mbit/s publisher fed straight into the server's hub (25 fps)."""
    feeder = HubFeeder(hub)
    hub.claim(feeder)
    start = time.monotonic()
    for msg in synthetic_stream(bitrate_bps=8_000_000):
        ahead = start + msg.timestamp / 1000 - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)
        feeder.feed(msg)


async def test_puller_close_mid_stream_is_prompt() -> None:
    router = OpenRouter()
    async with RtmpServer(router, port=0) as server:
        hub = router.hub(StreamPath(app="live", key="src"))
        feeding = asyncio.ensure_future(_feed(hub))
        try:
            for cycle in range(15):
                sink = Hub(f"sink{cycle}")
                puller = RtmpPuller(f"rtmp://127.0.0.1:{server.port}/live/src", sink)
                await puller.start()
                deadline = time.monotonic() + 10
                while puller.messages < 20 + cycle % 7:
                    assert time.monotonic() < deadline, "no media at the puller"
                    await asyncio.sleep(0.005)
                started = time.monotonic()
                await asyncio.wait_for(puller.close(), 3.0)
                took = time.monotonic() - started
                assert took < 1.0, f"cycle {cycle}: close took {took:.2f} s"
                assert not puller.connected
        finally:
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding


async def test_close_outlasts_a_swallowed_cancellation() -> None:
    """The client's session task swallows the first cancellation (what wait_for does on 3.11 when its
    read completes at that moment); close() cancels again and returns."""
    puller = RtmpPuller("rtmp://127.0.0.1:9/live/x", Hub("sink"))
    swallowed = 0

    async def session_that_swallows_one_cancel() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed == 1:
                    continue
                raise

    puller._task = asyncio.ensure_future(session_that_swallows_one_cancel())
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(puller.close())
    done, _ = await asyncio.wait({closing}, timeout=2.0)
    assert closing in done, "close() is still waiting for the session"
    assert swallowed == 2
