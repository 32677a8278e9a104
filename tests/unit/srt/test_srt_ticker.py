"""The endpoints' timers (``socket_driver.Ticker``) on the loop's one shared clock: connections of
different endpoints that are due together run in one firing, firings are at least ``TICK_S`` apart, and
a cancelled ticker runs nothing more. The drivers here are stand-ins for ``Driver`` (no socket: the
ticker only reads ``deadline`` and calls ``conn.handle_timer`` and ``pump``)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct

import pytest

from mediaplane.srt.socket_driver import TICK_S, Ticker, clock


class _Runs(list[tuple[str, float]]):
    """(connection name, the firing's now) per run; ``reached(n)`` waits for n runs."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def add(self, name: str, now: float) -> None:
        self.append((name, now))
        self.changed.set()

    async def reached(self, n: int) -> None:
        async with asyncio.timeout(5.0):  # generous: a loaded machine wakes late; nothing is timed by it
            while len(self) < n:
                self.changed.clear()
                await self.changed.wait()


class _Conn:
    def __init__(self, runs: _Runs, name: str) -> None:
        self.runs = runs
        self.name = name

    def handle_timer(self, now: float) -> None:
        self.runs.add(self.name, now)


class _Driver:
    """Due at ``deadline``; after each run due again ``every`` seconds later, ``times`` times."""

    def __init__(
        self, name: str, runs: _Runs, deadline: float, *, every: float = 0.0, times: int = 1
    ) -> None:
        self.conn = _Conn(runs, name)
        self.deadline: float | None = deadline
        self.every = every
        self.left = times
        self.ticker: Ticker | None = None

    def pump(self, now: float) -> None:
        self.left -= 1
        self.deadline = now + self.every if self.left > 0 else None
        if self.deadline is not None and self.ticker is not None:
            self.ticker.want(self.deadline)


def _ticker(drivers: list[_Driver]) -> Ticker:
    ticker = Ticker(lambda: drivers)  # type: ignore[arg-type, return-value]
    for d in drivers:
        d.ticker = ticker
        if d.deadline is not None:
            ticker.want(d.deadline)
    return ticker


def test_two_endpoints_due_together_run_in_one_firing() -> None:
    async def main() -> list[tuple[str, float]]:
        runs = _Runs()
        due = clock() + 0.02
        a = _ticker([_Driver("a", runs, due)])
        b = _ticker([_Driver("b", runs, due + 0.0002)])
        await runs.reached(2)
        a.cancel()
        b.cancel()
        return runs

    runs = asyncio.run(main())
    assert sorted(name for name, _ in runs) == ["a", "b"]
    assert runs[0][1] == runs[1][1]  # one firing's ``now`` for both


def test_firings_are_at_least_a_tick_apart_across_endpoints() -> None:
    async def main() -> list[tuple[str, float]]:
        runs = _Runs()
        start = clock() + 0.01
        a = _ticker([_Driver("a", runs, start, every=0.001, times=10)])
        b = _ticker([_Driver("b", runs, start + 0.0015, every=0.001, times=10)])
        await runs.reached(20)
        a.cancel()
        b.cancel()
        return runs

    runs = asyncio.run(main())
    firings = sorted({now for _, now in runs})
    gaps = [later - earlier for earlier, later in itertools.pairwise(firings)]
    assert gaps and min(gaps) >= TICK_S - 1e-6
    assert len(firings) < 20  # wanted every 1 ms by two endpoints, served a tick at a time


def test_a_cancelled_ticker_runs_nothing_more() -> None:
    async def main() -> list[tuple[str, float]]:
        runs = _Runs()
        due = clock() + 0.02
        kept = _ticker([_Driver("kept", runs, due)])
        gone = _ticker([_Driver("gone", runs, due)])
        gone.cancel()
        await runs.reached(1)
        await asyncio.sleep(0.05)
        kept.cancel()
        return runs

    assert [name for name, _ in asyncio.run(main())] == ["kept"]


class _FailingConn:
    """A connection whose timer has a bug: it raises, and records that it was closed."""

    def __init__(self) -> None:
        self.closed: list[str] = []

    def handle_timer(self, now: float) -> None:
        raise struct.error("argument out of range")

    def close(self, now: float, reason: str = "") -> None:
        self.closed.append(reason)


def test_a_failing_connection_is_closed_and_the_others_keep_their_timers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> tuple[list[tuple[str, float]], _FailingConn]:
        runs = _Runs()
        start = clock() + 0.01
        bad = _Driver("bad", runs, start, every=0.005, times=3)
        failing = _FailingConn()
        bad.conn = failing  # type: ignore[assignment]
        bad.addr = ("127.0.0.1", 9)  # type: ignore[attr-defined]
        same = _ticker([bad, _Driver("same endpoint", runs, start, every=0.005, times=3)])
        other = _ticker([_Driver("other endpoint", runs, start, every=0.005, times=3)])
        await runs.reached(6)
        same.cancel()
        other.cancel()
        return runs, failing

    with caplog.at_level(logging.ERROR, logger="mediaplane.srt.socket_driver"):
        runs, failing = asyncio.run(main())
    assert sorted(name for name, _ in runs) == ["other endpoint"] * 3 + ["same endpoint"] * 3
    assert failing.closed and failing.closed[0] == "internal error in its timer"
    assert "SRT connection timer failed" in caplog.text
