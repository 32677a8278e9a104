"""Timers on the precise monotonic clock for any event loop, shared by the backbone links
(:mod:`.netem`) and the SRT endpoints (:mod:`.srt.socket_driver`): uvloop counts timer delays in whole
milliseconds from a cached clock, so a delay computed on the precise clock can fire early there."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

__all__ = ["call_at_clock", "clock"]

clock = time.monotonic
"""The data plane's clock (seconds): every time a link model or an SRT connection sees, schedules and
records. asyncio's ``loop.time()``
is this same clock; uvloop's is libuv's cached millisecond, too coarse for deliveries scheduled to a
fraction of a millisecond (a datagram stamped up to 1 ms early left up to 1 ms short of its delay)."""


def call_at_clock(
    loop: asyncio.AbstractEventLoop, when: float, callback: Callable[..., None], *args: Any
) -> asyncio.TimerHandle:
    """``loop.call_at`` for a time on :data:`clock` (any loop, whatever its own clock): the callback runs
    no sooner than ``when`` (asyncio: up to a millisecond late, the selector's rounding; uvloop: before
    the next whole millisecond of libuv's clock).

    uvloop counts a delay in whole milliseconds from libuv's cached ``loop.time()`` and turns one
    under 0.5 ms into ``call_soon``, so a delay computed on the precise clock fires up to 1 ms early
    and a timer re-armed for the rest spins the loop until the deadline (3.3 firings per delivery
    measured, issue 9). There the delay is counted from ``loop.time()`` and rounded up to a whole ms.
    """
    delay = when - clock()
    if delay > 0.0 and not isinstance(loop, asyncio.BaseEventLoop):
        delay = max(0.001, math.ceil((when - loop.time()) * 1000.0 - 1e-6) / 1000.0)
    return loop.call_later(max(0.0, delay), callback, *args)
