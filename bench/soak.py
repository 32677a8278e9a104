"""Soak benchmark: many relays Singapore -> Frankfurt for minutes, with publisher and player churn,
printing what the emulator holds (RSS, file descriptors, asyncio tasks, sessions) every 30 s.

    python bench/soak.py [--relays 20] [--minutes 10] [--every 30] [--churn-s 5] [--bitrate 300k]

Half the relays are RTMP (Flow A RTMP-PUSH in, RTMP-PULL out; Flow B fed by it, RTMP-PULL out), half
SRT (SRT-Listener in and out, Flow B the same). The emulator runs in this process on its own loop
(:class:`emulator.testing.EmulatorThread`), so ``asyncio.all_tasks()`` of that loop and ``/proc/self``
are its own figures; the peers run in a child process: per relay one publisher into Flow A (our
RTMP pusher on a synthetic H.264/AAC-shaped stream, or our SRT caller sending MPEG-TS) and one player
at Flow B (our RTMP puller, our SRT caller). Every ``--churn-s`` seconds one publisher and one player,
picked at random, go away and come back (a publisher's departure is an input gap the flows ride out).

Each line: elapsed time, RSS (MiB), open fds, tasks on the emulator's loop, RTMP sessions, SRT
connections, and how many players received media in the last interval. A healthy run keeps RSS, fds
and tasks flat once every relay is up: growth that follows the churn count is a leak. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import random
import sys
import time
from typing import Any

from emulator.testing import EmulatorThread
from mediaplane.relay import Hub, HubUnit, UnitKind
from mediaplane.rtmp import RtmpPuller, RtmpPusher
from mediaplane.rtmp.synthetic import synthetic_stream
from mediaplane.srt import SrtCaller, SrtConfig, SrtDirection

A_REGION, B_REGION = "ap-southeast-1", "eu-central-1"
TS_PACKET = 188
SRT_PAYLOAD = 7 * TS_PACKET


def topology(relays: int) -> dict[str, Any]:
    flows: list[dict[str, Any]] = []
    for i in range(relays):
        rtmp = i % 2 == 0
        push, pull = ("RTMP-PUSH", "RTMP-PULL") if rtmp else ("SRT-Listener", "SRT-Listener")
        a, b = f"SoakA{i}", f"SoakB{i}"
        flows.append(
            {
                "name": a,
                "region": A_REGION,
                "status": "online",
                "input": {"name": "In", "protocol": push},
                "outputs": [{"name": "ToB", "protocol": pull}],
            }
        )
        flows.append(
            {
                "name": b,
                "region": B_REGION,
                "status": "online",
                "input": {"name": "FromA", "protocol": "Flow", "pair_flow": a, "pair_output": "ToB"},
                "outputs": [{"name": "Out", "protocol": pull}],
            }
        )
    return {"flows": flows, "seed": 20}


# -- peers (child process) ------------------------------------------------------------------------------
class Publisher:
    """Our RTMP pusher on a synthetic stream, or our SRT caller sending null MPEG-TS, in real time."""

    def __init__(self, url: str, bitrate_bps: int, seed: int) -> None:
        self.url = url
        self.bitrate_bps = bitrate_bps
        self.seed = seed
        self.hub = Hub(f"soak-pub {url}", cache_gop=True)
        self.client: RtmpPusher | SrtCaller | None = None
        self._feed: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.hub = Hub(f"soak-pub {self.url}", cache_gop=True)
        self.hub.claim(self)
        if self.url.startswith("rtmp"):
            self.client = RtmpPusher(self.url, self.hub)
            self._feed = asyncio.get_running_loop().create_task(self._feed_rtmp())
        else:
            host, port = self.url.removeprefix("srt://").split(":")
            self.client = SrtCaller(
                host,
                int(port),
                config=SrtConfig(),
                hub=self.hub,
                direction=SrtDirection.PUBLISH,
                reconnect=True,
            )
            self._feed = asyncio.get_running_loop().create_task(self._feed_srt())
        await self.client.start()

    async def _feed_rtmp(self) -> None:
        start = time.monotonic()
        for msg in synthetic_stream(bitrate_bps=self.bitrate_bps, rng=random.Random(self.seed)):
            delay = start + msg.timestamp / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.hub.feed(
                HubUnit(
                    kind=UnitKind(msg.kind), timestamp_ms=msg.timestamp, size=len(msg.payload), payload=msg
                )
            )

    async def _feed_srt(self) -> None:
        every = SRT_PAYLOAD * 8 / self.bitrate_bps
        n = 0
        start = time.monotonic()
        while True:
            payload = b"".join(
                bytes([0x47, 0x1F, 0xFF, 0x10 | ((n + i) & 0xF)]) + b"\xff" * 184 for i in range(7)
            )
            self.hub.feed(
                HubUnit(
                    # A subscriber starts at a keyframe: mark one a second as a random access point.
                    kind=UnitKind.KEYFRAME if n % int(1 / every) == 0 else UnitKind.FRAME,
                    timestamp_ms=int(n * every * 1000),
                    size=len(payload),
                    payload=payload,
                )
            )
            n += 1
            delay = start + n * every - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def stop(self) -> None:
        if self._feed is not None:
            self._feed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._feed
        if self.client is not None:
            await self.client.close()
        self.hub.close()


class Player:
    """Our RTMP puller or SRT caller at Flow B's output, counting the units that arrive."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.units = 0
        self.client: RtmpPuller | SrtCaller | None = None
        self.hub: Hub | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.url.startswith("rtmp"):
            self.hub = Hub(f"soak-play {self.url}", cache_gop=False)
            sub = self.hub.subscribe("count")
            self._task = loop.create_task(self._count(sub))
            self.client = RtmpPuller(self.url, self.hub)
            await self.client.start()
        else:
            host, port = self.url.removeprefix("srt://").split(":")
            caller = self.client = SrtCaller(host, int(port), config=SrtConfig(), reconnect=True)
            await caller.start()
            self._task = loop.create_task(self._count_srt(caller))

    async def _count(self, sub: Any) -> None:
        while True:
            item = await sub.get()
            if isinstance(item, HubUnit):
                self.units += 1

    async def _count_srt(self, caller: SrtCaller) -> None:
        async for _ in caller.payloads():
            self.units += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.client is not None:
            await self.client.close()
        if self.hub is not None:
            self.hub.close()


async def _peers(
    pairs: list[tuple[str, str]], bitrate_bps: int, churn_s: float, seconds: float, q: Any
) -> None:
    pubs = [Publisher(a, bitrate_bps, i) for i, (a, _) in enumerate(pairs)]
    players = [Player(b) for _, b in pairs]
    for p in pubs:
        await p.start()
    await asyncio.sleep(1.0)
    for pl in players:
        await pl.start()
    rng = random.Random(20)
    end = time.monotonic() + seconds
    churns = 0
    last = [0] * len(players)
    next_report = time.monotonic() + 1.0
    next_churn = time.monotonic() + churn_s
    while time.monotonic() < end:
        await asyncio.sleep(0.2)
        now = time.monotonic()
        if now >= next_churn:
            next_churn = now + churn_s
            churns += 1
            k = rng.randrange(len(pubs))
            await pubs[k].stop()
            await pubs[k].start()
            j = rng.randrange(len(players))
            await players[j].stop()
            players[j] = Player(pairs[j][1])
            await players[j].start()
            last[j] = 0
        if now >= next_report:
            next_report = now + 1.0
            receiving = sum(1 for i, pl in enumerate(players) if pl.units > last[i])
            last = [pl.units for pl in players]
            q.put((now, receiving, churns))
    for pl in players:
        await pl.stop()
    for p in pubs:
        await p.stop()


def peers_main(
    pairs: list[tuple[str, str]], bitrate_bps: int, churn_s: float, seconds: float, q: Any
) -> None:
    asyncio.run(_peers(pairs, bitrate_bps, churn_s, seconds, q))


# -- the emulator (this process) -----------------------------------------------------------------------
def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def figures(emu: EmulatorThread) -> tuple[int, int, int]:
    """(tasks on the emulator's loop, RTMP sessions, SRT connections), read on that loop."""

    def read() -> tuple[int, int, int]:
        rt = emu.em.runtime
        snap = rt.snapshot()
        rtmp = sum(len(r["rtmp_sessions"]) for r in snap["regions"].values())
        srt = 0
        for flow in snap["live_flows"].values():
            for side in ("inputs", "outputs"):
                srt += sum(e.get("srt_callers") or 0 for e in flow[side].values())
        return len(asyncio.all_tasks()), rtmp, srt

    result: tuple[int, int, int] = emu.run(read)
    return result


def parse_bitrate(text: str) -> int:
    text = text.lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--relays", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--every", type=float, default=30.0, help="seconds between lines (default 30)")
    ap.add_argument("--churn-s", type=float, default=5.0, help="seconds between churns (default 5)")
    ap.add_argument("--bitrate", default="300k", help="per publisher (default 300k)")
    args = ap.parse_args()
    if args.relays < 1 or args.minutes <= 0:
        ap.error("--relays >= 1 and --minutes > 0")
    seconds = args.minutes * 60
    with EmulatorThread(topology(args.relays)) as emu:
        urls = {(flow, role): url for flow, role, url in emu.em.urls()}
        pairs = [
            (urls[(f"{A_REGION}/SoakA{i}", "push to In")], urls[(f"{B_REGION}/SoakB{i}", "play Out")])
            for i in range(args.relays)
        ]
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        child = ctx.Process(
            target=peers_main, args=(pairs, parse_bitrate(args.bitrate), args.churn_s, seconds, q)
        )
        start = time.monotonic()
        print(
            f"soak: {args.relays} relays ({(args.relays + 1) // 2} RTMP, {args.relays // 2} SRT) "
            f"for {seconds:.0f} s"
        )
        print(
            f"{'t (s)':>6} {'RSS MiB':>8} {'fds':>5} {'tasks':>6} {'rtmp':>5} {'srt':>5} "
            f"{'players ok':>10} {'churns':>6}"
        )
        child.start()
        receiving, churns = 0, 0
        first: tuple[float, int, int] | None = None
        next_line = start + min(args.every, seconds)
        while True:
            with contextlib.suppress(Exception):
                while True:
                    _, receiving, churns = q.get(timeout=0.2)
            now = time.monotonic()
            if now >= next_line or not child.is_alive():
                tasks, rtmp, srt = figures(emu)
                row = (rss_mib(), fds(), tasks)
                first = first or row
                print(
                    f"{now - start:6.0f} {row[0]:8.1f} {row[1]:5d} {row[2]:6d} {rtmp:5d} {srt:5d} "
                    f"{receiving:>5d}/{args.relays:<4d} {churns:6d}",
                    flush=True,
                )
                next_line += args.every
                if not child.is_alive():
                    break
        child.join(30)
        time.sleep(3.0)  # sessions of the departed peers time out or close
        tasks, rtmp, srt = figures(emu)
        assert first is not None
        print(
            f"after the peers left: RSS {rss_mib():.1f} MiB (first line {first[0]:.1f}), fds {fds()} "
            f"({first[1]}), tasks {tasks} ({first[2]}), rtmp sessions {rtmp}, srt connections {srt}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
