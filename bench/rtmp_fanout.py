"""Benchmark: one 8 Mbps RTMP publisher fanned out to N players by our RtmpServer (and nginx-rtmp).

The server under test runs alone in its own process (one asyncio loop: one core at most) and measures
its own CPU with ``time.process_time()``. This process is the load: a synthetic publisher written with
our own client (RtmpPusher over a hub fed by ``synthetic_stream``: real RTMP, no encoding cost) and N
lightweight players (our client session for handshake/connect/play, then plain byte counting).

For each N of a ladder it measures, over a window of ``--seconds``:

* CPU seconds per GB forwarded (server CPU / bytes the players received);
* whether any player fell behind: a player falls behind when, half a second after the window, it has
  received less than 99 % of what the publisher sent in the window, or (our server only) when its
  subscription skipped or dropped anything. CPU is counted over the window plus that half second.

This measures the bare RTMP server with one publisher (no flows, no backbone); the product's own
path, flows across the backbone, is bench/chains.py.

When Debian's nginx with libnginx-mod-rtmp is installed, the same load runs against it (CPU of its
single worker from /proc). Each rung runs ours then nginx, ``--rounds`` times (A B A B), each run on a
fresh server and publisher; every round's CPU-per-GB ratio ours/nginx is printed, a run where nginx
fell behind is marked, and a summary gives every rung's median ratio and the largest N without a
player behind on each side. The ladder stops at the first rung where both sides fell behind.

    python bench/rtmp_fanout.py [--ladder 50,100,200,400,800,1200] [--seconds 5] [--rounds 2] [--no-nginx]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import _kit

from mediaplane.relay import Hub, HubUnit, OpenRouter, UnitKind
from mediaplane.rtmp import PlayStarted, RtmpClientConfig, RtmpClientSession, RtmpPusher
from mediaplane.rtmp.chunk import encode_fmt0
from mediaplane.rtmp.server import RtmpServer, RtmpServerConfig
from mediaplane.rtmp.synthetic import synthetic_stream

KEEP_UP_FRACTION = 0.99
LATENCY_SLACK_S = 0.5


# -- the server under test (child process) -------------------------------------------------------
async def serve(port: int) -> None:
    """Run our RtmpServer; answer "stats" lines on stdin with one JSON line on stdout."""
    server = RtmpServer(OpenRouter(), port=port, config=RtmpServerConfig(seed=1))
    await server.start()
    print(json.dumps({"ready": True}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() != b"stats":
            continue
        subs = [c.subscription for c in server.sessions if c.subscription is not None]
        stats = {
            "cpu_s": time.process_time(),
            "players": len(subs),
            "skips": sum(s.skips for s in subs),
            "dropped": sum(s.units_dropped for s in subs),
        }
        print(json.dumps(stats), flush=True)
    await server.close()


class OurServer:
    """Our RtmpServer in a child process."""

    name = "mcemu RtmpServer"

    def __init__(self) -> None:
        self.port = _kit.free_port()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        json.loads(self.proc.stdout.readline())

    def stats(self) -> dict[str, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        result: dict[str, float] = json.loads(self.proc.stdout.readline())
        return result

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class NginxServer:
    """nginx with the RTMP module, one worker (``_kit.Nginx``); CPU of its master and worker."""

    name = "nginx-rtmp"

    def __init__(self) -> None:
        self._nginx = _kit.Nginx()
        self.port = self._nginx.port

    def stats(self) -> dict[str, float]:
        return {"cpu_s": self._nginx.cpu_s(), "skips": 0, "dropped": 0}

    def close(self) -> None:
        self._nginx.close()


# -- the load (this process) ---------------------------------------------------------------------
class BenchPlayer(asyncio.Protocol):
    """Plays with our client session until Play.Start, then only counts bytes."""

    def __init__(self, url_app: str, key: str, tc_url: str, seed: int) -> None:
        self.session = RtmpClientSession(
            random.Random(seed), app=url_app, key=key, mode="play", tc_url=tc_url
        )
        self.started = asyncio.get_running_loop().create_future()
        self.bytes = 0
        self.acked = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.session.initiate()
        transport.write(self.session.data_to_send())

    def data_received(self, data: bytes) -> None:
        self.bytes += len(data)
        if self.started.done():
            # Keep acknowledging like a real player (nginx-rtmp and ffmpeg players do), without parsing.
            window = self.session._peer_window_ack_size
            if window and self.bytes - self.acked >= window and self.transport is not None:
                self.acked = self.bytes
                self.transport.write(
                    encode_fmt0(
                        csid=2,
                        timestamp=0,
                        type_id=3,
                        stream_id=0,
                        payload=struct.pack(">I", self.bytes % (1 << 32)),
                        chunk_size=self.session.out_chunk_size,
                    )
                )
            return
        self.session.receive_data(data)
        while (event := self.session.next_event()) is not None:
            if isinstance(event, PlayStarted):
                self.started.set_result(None)
        out = self.session.data_to_send()
        if out and self.transport is not None:
            self.transport.write(out)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.started.done():
            self.started.set_exception(ConnectionError(f"player lost before Play.Start: {exc}"))


@dataclass
class StepResult:
    players: int
    cpu_s: float
    gb: float
    min_fraction: float
    skips: float
    dropped: float

    @property
    def cpu_per_gb(self) -> float:
        return self.cpu_s / self.gb if self.gb else float("inf")

    @property
    def kept_up(self) -> bool:
        return self.min_fraction >= KEEP_UP_FRACTION and not self.skips and not self.dropped


class Publisher:
    """Synthetic 8 Mbps publisher: RtmpPusher over a hub fed in real time."""

    def __init__(self, url: str, bitrate_bps: int) -> None:
        self.hub = Hub("bench-source")
        self.hub.claim(self)
        self.pusher = RtmpPusher(url, self.hub, config=RtmpClientConfig(seed=2, chunk_size=4096))
        self.bitrate_bps = bitrate_bps
        self.bytes = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pusher.start()
        deadline = time.monotonic() + 10
        while not self.pusher.connected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"publisher did not connect: {self.pusher.last_error}")
            await asyncio.sleep(0.05)
        self._task = asyncio.get_running_loop().create_task(self._feed())

    async def _feed(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for m in synthetic_stream(bitrate_bps=self.bitrate_bps):
            delay = start + m.timestamp / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.bytes += len(m.payload)
            self.hub.feed(
                HubUnit(kind=UnitKind(m.kind), timestamp_ms=m.timestamp, size=len(m.payload), payload=m)
            )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.pusher.close()


async def run_step(
    server: OurServer | NginxServer, publisher: Publisher, n: int, seconds: float
) -> StepResult:
    loop = asyncio.get_running_loop()
    players: list[BenchPlayer] = []
    transports: list[asyncio.BaseTransport] = []
    for i in range(n):
        player = BenchPlayer("live", "bench", f"rtmp://127.0.0.1:{server.port}/live", seed=100 + i)
        transport, _ = await loop.create_connection(lambda p=player: p, "127.0.0.1", server.port)  # type: ignore[misc]
        players.append(player)
        transports.append(transport)
    await asyncio.wait_for(asyncio.gather(*(p.started for p in players)), 30)
    await asyncio.sleep(1.0)  # let the late-joiner burst drain
    s0 = await loop.run_in_executor(None, server.stats)
    b0 = [p.bytes for p in players]
    pub0 = publisher.bytes
    await asyncio.sleep(seconds)
    sent = publisher.bytes - pub0
    # A player keeps up when, LATENCY_SLACK_S later, it has what the publisher sent in the window.
    await asyncio.sleep(LATENCY_SLACK_S)
    s1 = await loop.run_in_executor(None, server.stats)
    got = [p.bytes - b for p, b in zip(players, b0, strict=True)]
    for t in transports:
        t.close()
    await asyncio.sleep(0.5)
    return StepResult(
        players=n,
        cpu_s=s1["cpu_s"] - s0["cpu_s"],
        gb=sum(got) / 1e9,
        min_fraction=min(got) / sent if sent else 0.0,
        skips=s1["skips"] - s0["skips"],
        dropped=s1["dropped"] - s0["dropped"],
    )


async def run_rung(
    make: Callable[[], OurServer | NginxServer], n: int, seconds: float, bitrate: int
) -> StepResult:
    """A fresh server and publisher for one rung of one side, so the idle side costs nothing."""
    loop = asyncio.get_running_loop()
    server = await loop.run_in_executor(None, make)
    try:
        publisher = Publisher(f"rtmp://127.0.0.1:{server.port}/live/bench", bitrate)
        await publisher.start()
        try:
            await asyncio.sleep(2.5)  # a first keyframe and a full GOP in the cache
            r = await run_step(server, publisher, n, seconds)
        finally:
            await publisher.close()
    finally:
        await loop.run_in_executor(None, server.close)
    print(
        f"  {server.name:17s} N={n:4d}  server CPU {r.cpu_s:6.2f} s / {seconds:.0f} s  "
        f"forwarded {r.gb * 8 / (seconds + LATENCY_SLACK_S):6.2f} Gbit/s  "
        f"{r.cpu_per_gb:6.2f} CPU-s/GB  "
        f"slowest player {r.min_fraction * 100:5.1f} %  skips {r.skips:.0f} drops {r.dropped:.0f}  "
        f"{'ok' if r.kept_up else 'FELL BEHIND'}",
        flush=True,
    )
    return r


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ladder", default="50,100,200,400,800,1200")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--bitrate", type=int, default=8_000_000)
    parser.add_argument("--rounds", type=int, default=2, help="ours, nginx pairs per rung")
    parser.add_argument("--no-nginx", action="store_true")
    args = parser.parse_args()
    ladder = [int(x) for x in args.ladder.split(",")]
    print(
        f"RTMP fan-out: one {args.bitrate / 1e6:.1f} Mbps publisher, "
        f"{args.seconds:.0f} s windows, ladder {ladder}, rounds {args.rounds} (ours, nginx in turn)"
    )
    nginx = not args.no_nginx
    if nginx and not _kit.nginx_available():
        print("nginx with libnginx-mod-rtmp not installed: skipping the nginx reference runs")
        nginx = False
    results: dict[str, dict[int, list[StepResult]]] = {"ours": {}, "nginx": {}}
    for n in ladder:
        for _ in range(args.rounds):
            results["ours"].setdefault(n, []).append(await run_rung(OurServer, n, args.seconds, args.bitrate))
            if nginx:
                results["nginx"].setdefault(n, []).append(
                    await run_rung(NginxServer, n, args.seconds, args.bitrate)
                )
        ours_ok = all(r.kept_up for r in results["ours"][n])
        ref_ok = nginx and all(r.kept_up for r in results["nginx"][n])
        if nginx:
            ratios = [
                f"{a.cpu_per_gb / b.cpu_per_gb:.2f}x" + ("" if b.kept_up else " (nginx fell behind)")
                for a, b in zip(results["ours"][n], results["nginx"][n], strict=True)
            ]
            print(f"  N={n}: mcemu / nginx CPU per GB, every round: {', '.join(ratios)}", flush=True)
        if not ours_ok and not ref_ok:
            break  # both sides fell behind: higher rungs only measure overload
    print("summary (median of rounds; every rung, not only the most favourable):")
    print(
        f"  {'N':>5} {'mcemu CPU-s/GB':>15} {'nginx CPU-s/GB':>15} {'ratio':>7} {'mcemu':>12} {'nginx':>12}"
    )
    for n in ladder:
        ours_runs = results["ours"].get(n, [])
        if not ours_runs:
            continue
        ref_runs = results["nginx"].get(n, [])
        a = statistics.median(r.cpu_per_gb for r in ours_runs)
        b = statistics.median(r.cpu_per_gb for r in ref_runs) if ref_runs else float("nan")
        ratio = f"{a / b:6.2f}x" if ref_runs and b else "    n/a"
        print(
            f"  {n:>5} {a:15.2f} {b:15.2f} {ratio:>7} {_kept(ours_runs):>12} {_kept(ref_runs):>12}"
            + ("" if not ref_runs or all(r.kept_up for r in ref_runs) else "  <- nginx fell behind")
        )
    for side, name in (("ours", "mcemu RtmpServer"), ("nginx", "nginx-rtmp")):
        ok = [n for n, runs in results[side].items() if all(r.kept_up for r in runs)]
        if results[side]:
            top = max(results[side])
            more = (
                " (the top of the ladder: the real limit is higher)" if ok and max(ok) == ladder[-1] else ""
            )
            print(f"{name}: largest N with no player behind = {max(ok, default=0)}{more} (ran up to {top})")


def _kept(runs: list[StepResult]) -> str:
    return f"{sum(r.kept_up for r in runs)}/{len(runs)} ok" if runs else "-"


def raise_fd_limit() -> None:
    """Hundreds of players need more than the default 1024 descriptors."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


if __name__ == "__main__":
    raise_fd_limit()
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        asyncio.run(serve(int(sys.argv[2])))
    else:
        asyncio.run(main())
