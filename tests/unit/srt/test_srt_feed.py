"""An SRT output's feed from its hub (``socket_driver.SubscriptionFeed``): what the hub queues in one loop
iteration goes out in one drain and one pump, without a task; the hub closing ends the connection; a
feed that fails closes its own connection and no other. The connection and driver are stand-ins (the
feed only calls ``conn.send``/``conn.close`` and ``driver.pump``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from mediaplane.relay.hub import Hub, HubUnit, UnitKind
from mediaplane.srt.config import SrtConfig
from mediaplane.srt.socket_driver import SubscriptionFeed


class _Conn:
    def __init__(self, *, fail: bool = False) -> None:
        self.config = SrtConfig()
        self.sent: list[bytes] = []
        self.closed = False
        self.reason = ""
        self.fail = fail

    def send(self, payload: bytes, now: float) -> None:
        if self.fail:
            raise RuntimeError("boom")
        self.sent.append(payload)

    def close(self, now: float, reason: str) -> None:
        self.closed = True
        self.reason = reason


class _Driver:
    def __init__(self, conn: _Conn) -> None:
        self.conn = conn
        self.addr = ("127.0.0.1", 9)
        self.pumps = 0

    def pump(self, now: float | None = None) -> None:
        self.pumps += 1


def _unit(payload: bytes) -> HubUnit:
    return HubUnit(kind=UnitKind.FRAME, timestamp_ms=0, size=len(payload), payload=payload)


def _feed(hub: Hub, conn: _Conn, ended: list[str]) -> tuple[SubscriptionFeed, _Driver]:
    driver = _Driver(conn)
    sub = hub.subscribe("out")
    any_driver: Any = driver
    return SubscriptionFeed(sub, any_driver, lambda: ended.append("closed")), driver


async def _next_iterations() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_one_drain_and_one_pump_per_loop_iteration_and_no_task() -> None:
    hub = Hub("h", cache_gop=False)
    conn, ended = _Conn(), list[str]()
    tasks = len(asyncio.all_tasks())
    _, driver = _feed(hub, conn, ended)
    for i in range(3):
        hub.feed(_unit(b"p%d" % i))
    assert len(asyncio.all_tasks()) == tasks
    assert conn.sent == []  # sent from the next iteration's callback, not from inside feed()
    await _next_iterations()
    assert conn.sent == [b"p0", b"p1", b"p2"] and driver.pumps == 1
    big = bytes(range(256)) * 6  # longer than one payload: split at the connection's payload size
    hub.feed(_unit(big))
    await _next_iterations()
    size = conn.config.payload_size
    assert conn.sent[3:] == [big[:size], big[size:]] and driver.pumps == 2


async def test_the_hub_closing_closes_the_connection_and_stops_the_feed() -> None:
    hub = Hub("h", cache_gop=False)
    conn, ended = _Conn(), list[str]()
    _feed(hub, conn, ended)
    hub.close()
    await _next_iterations()
    assert conn.closed and conn.reason == "stream closed" and ended == ["closed"]


async def test_a_failing_feed_closes_its_connection_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = Hub("h", cache_gop=False)
    bad, good, ended = _Conn(fail=True), _Conn(), list[str]()
    _feed(hub, bad, ended)
    _feed(hub, good, ended)
    with caplog.at_level(logging.ERROR, logger="mediaplane.srt.socket_driver"):
        hub.feed(_unit(b"a"))
        await _next_iterations()
    assert bad.closed and bad.reason == "internal error in its feed"
    assert "SRT output feed failed" in caplog.text
    hub.feed(_unit(b"b"))
    await _next_iterations()
    assert good.sent == [b"a", b"b"] and not good.closed and ended == []
