"""SRT relay benchmark: N concurrent 8 Mbit/s streams through our listener -> hub -> caller on loopback.

    python bench/srt_relay.py [--streams 1,4,8,12] [--seconds 8] [--bitrate 8M] [--rounds 2]

This measures the SRT engine alone (no flows, no backbone link); the product's own path, flows across
the backbone, is bench/chains.py.

For each N: N real ffmpeg callers push a looped 8 Mbit/s MPEG-TS clip into one SrtListener (one UDP
socket), each path's hub is drained by an SrtCaller that sends to its own ffmpeg listener. When
``srt-live-transmit`` (Debian srt-tools) is on PATH, the same load then goes through N of its processes
(listener -> caller), and the two alternate ``--rounds`` times (ours, libsrt, ours, libsrt). Printed
per run: Mbit/s delivered (what the sinks wrote in the window, for both sides), CPU seconds of the
relay (this process; the srt-live-transmit processes) per GB delivered, losses (ours: gaps detected,
normally recovered by retransmission; DROPREQs from the sources; packets dropped too late, sender
drops, hub drops; both: continuity-counter errors in what the sinks wrote); a reference run that lost
data is marked. Then every round's CPU ratio ours / libsrt per N and the largest N with zero loss on
each side. Figures are machine- and load-dependent; this is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pathlib
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass

import _kit

from mediaplane.relay.routing import OpenRouter, StreamPath
from mediaplane.srt import SrtCaller, SrtConfig, SrtListener


def free_udp_port() -> int:
    return _kit.free_port(socket.SOCK_DGRAM)


def continuity_errors(data: bytes) -> int:
    check = _kit.TsContinuity()
    check.feed(data)
    return check.errors


def sink_bytes(tmp: pathlib.Path, n: int) -> int:
    """What the sinks have written so far (both sides are measured here, at the receivers)."""
    total = 0
    for i in range(n):
        with contextlib.suppress(OSError):
            total += (tmp / f"sink{i}.ts").stat().st_size
    return total


@dataclass
class Result:
    streams: int
    mbps: float
    cpu_s: float
    wall_s: float
    bytes_relayed: int
    gaps_recovered: int = 0
    too_late_dropped: int = 0
    sender_dropped: int = 0
    hub_dropped: int = 0
    dropreqs: int = 0
    cc_errors: int = 0

    @property
    def cpu_s_per_gb(self) -> float:
        return self.cpu_s / (self.bytes_relayed / 1e9) if self.bytes_relayed else float("inf")

    @property
    def lossless(self) -> bool:
        return not (self.too_late_dropped or self.sender_dropped or self.hub_dropped or self.cc_errors)

    def line(self, who: str) -> str:
        per_core = self.mbps / (self.cpu_s / self.wall_s) if self.cpu_s else float("inf")
        return (
            f"{who:>6} N={self.streams:<3} relayed {self.mbps:7.1f} Mbit/s  cpu {self.cpu_s:6.2f} s "
            f"({100 * self.cpu_s / self.wall_s:5.1f}% of a core)  {self.cpu_s_per_gb:6.1f} cpu-s/GB  "
            f"{per_core:6.1f} Mbit/s per core  gaps {self.gaps_recovered}  DROPREQs {self.dropreqs}  "
            f"too-late drops {self.too_late_dropped}  sender drops {self.sender_dropped}  "
            f"hub drops {self.hub_dropped}  cc errors {self.cc_errors}"
        )


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def start_sinks(
    ffmpeg: str, n: int, tmp: pathlib.Path
) -> tuple[list[int], list[asyncio.subprocess.Process]]:
    ports = [free_udp_port() for _ in range(n)]
    sinks = [
        await spawn(
            ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-y",
            "-f",
            "data",
            "-i",
            f"srt://127.0.0.1:{p}?mode=listener&latency=200000",
            "-map",
            "0",
            "-c",
            "copy",
            "-f",
            "data",
            str(tmp / f"sink{i}.ts"),
        )
        for i, p in enumerate(ports)
    ]
    await asyncio.sleep(0.5)
    return ports, sinks


async def start_sources(
    ffmpeg: str, clip: pathlib.Path, urls: list[str], seconds: float
) -> list[asyncio.subprocess.Process]:
    return [
        await spawn(
            ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            str(clip),
            "-t",
            str(seconds),
            "-c",
            "copy",
            "-f",
            "mpegts",
            url,
        )
        for url in urls
    ]


async def finish_sinks(sinks: list[asyncio.subprocess.Process], n: int, tmp: pathlib.Path) -> int:
    for s in sinks:
        try:
            await asyncio.wait_for(s.wait(), 15)
        except TimeoutError:
            s.kill()
            await s.wait()
    return sum(continuity_errors((tmp / f"sink{i}.ts").read_bytes()) for i in range(n))


async def run_ours(ffmpeg: str, clip: pathlib.Path, n: int, seconds: float, tmp: pathlib.Path) -> Result:
    config = SrtConfig(latency_ms=200)
    router = OpenRouter(cache_gop=False)
    ports, sinks = await start_sinks(ffmpeg, n, tmp)
    async with SrtListener(router, port=0, config=config, direction="publish") as listener:
        callers = [
            SrtCaller(
                "127.0.0.1",
                p,
                config=config,
                hub=router.hub(StreamPath(app="", key=f"s{i}")),
                direction="publish",
                reconnect=True,
            )
            for i, p in enumerate(ports)
        ]
        for c in callers:
            await c.start()
        for c in callers:
            await c.wait_connected(10)
        urls = [f"srt://127.0.0.1:{listener.port}?mode=caller&latency=200000&streamid=s{i}" for i in range(n)]
        sources = await start_sources(ffmpeg, clip, urls, seconds + 2)
        await asyncio.sleep(1.5)  # every source connected and streaming
        sessions = listener.connections
        got0 = sink_bytes(tmp, n)
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, wall1 = time.process_time(), time.monotonic()
        got1 = sink_bytes(tmp, n)
        for s in sources:
            await s.wait()
        await asyncio.sleep(1.0)
        result = Result(
            streams=n,
            mbps=(got1 - got0) * 8 / (wall1 - wall0) / 1e6,
            cpu_s=cpu1 - cpu0,
            wall_s=wall1 - wall0,
            bytes_relayed=got1 - got0,
        )
        result.gaps_recovered = sum(s.stats.pkt_rcv_loss_total for s in sessions)
        result.too_late_dropped = sum(s.stats.pkt_rcv_drop_total for s in sessions)
        result.sender_dropped = sum(c.stats.pkt_snd_drop_total for c in callers)
        result.dropreqs = sum(s.stats.dropreq_recv_total for s in sessions)
        result.hub_dropped = sum(
            sub.units_dropped for hub in router.hubs.values() for sub in hub.subscriptions
        )
        if len(sessions) != n:
            result.too_late_dropped += 10**6  # a source never got through: count as loss
        for c in callers:
            await c.close()
    result.cc_errors = await finish_sinks(sinks, n, tmp)
    return result


async def run_libsrt(
    ffmpeg: str, slt: str, clip: pathlib.Path, n: int, seconds: float, tmp: pathlib.Path
) -> Result:
    ports, sinks = await start_sinks(ffmpeg, n, tmp)
    in_ports = [free_udp_port() for _ in range(n)]
    relays = [
        await spawn(
            slt,
            "-q",
            f"srt://:{ip}?mode=listener&latency=200",
            f"srt://127.0.0.1:{op}?mode=caller&latency=200",
        )
        for ip, op in zip(in_ports, ports, strict=True)
    ]
    await asyncio.sleep(0.5)
    urls = [f"srt://127.0.0.1:{ip}?mode=caller&latency=200000" for ip in in_ports]
    sources = await start_sources(ffmpeg, clip, urls, seconds + 2)
    await asyncio.sleep(1.5)
    got0 = sink_bytes(tmp, n)
    cpu0, wall0 = sum(_kit.proc_cpu_s(r.pid) for r in relays), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, wall1 = sum(_kit.proc_cpu_s(r.pid) for r in relays), time.monotonic()
    got1 = sink_bytes(tmp, n)
    for s in sources:
        await s.wait()
    await asyncio.sleep(1.0)
    for r in relays:
        r.terminate()
        await r.wait()
    cc = await finish_sinks(sinks, n, tmp)
    relayed = got1 - got0
    return Result(
        streams=n,
        mbps=relayed * 8 / (wall1 - wall0) / 1e6,
        cpu_s=cpu1 - cpu0,
        wall_s=wall1 - wall0,
        bytes_relayed=relayed,
        cc_errors=cc,
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", default="1,4,8,12", help="comma-separated stream counts")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run")
    ap.add_argument("--bitrate", default="8M", help="per-stream video bitrate")
    ap.add_argument("--no-libsrt", action="store_true", help="skip the srt-live-transmit comparison")
    ap.add_argument("--rounds", type=int, default=2, help="ours, libsrt pairs per N")
    args = ap.parse_args()
    ffmpeg = _kit.ffmpeg_exe()
    slt = None if args.no_libsrt else shutil.which("srt-live-transmit")
    # The kit's cached CBR clip, at this benchmark's size and length, with a keyframe every second.
    clip_set = _kit.make_clip(bitrate=args.bitrate, size="640x360", seconds=5, gop_s=1)
    clip = clip_set.ts
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        print(
            f"clip: {clip_set.rate_bps('ts') * 8 / 1e6:.2f} Mbit/s; cores: {os.cpu_count()}; "
            f"measuring {args.seconds:.0f} s per run; rounds {args.rounds} (ours, libsrt in turn)"
        )
        streams = [int(x) for x in args.streams.split(",")]
        ours_all: dict[int, list[Result]] = {}
        refs_all: dict[int, list[Result]] = {}
        for n in streams:
            for _ in range(args.rounds):
                ours = await run_ours(ffmpeg, clip, n, args.seconds, tmp)
                ours_all.setdefault(n, []).append(ours)
                print(ours.line("ours"), flush=True)
                if slt is None:
                    continue
                ref = await run_libsrt(ffmpeg, slt, clip, n, args.seconds, tmp)
                refs_all.setdefault(n, []).append(ref)
                mark = "" if ref.lossless else "  [reference LOST data: cc errors in what its sinks wrote]"
                print(ref.line("libsrt") + mark, flush=True)
        if slt is None and not args.no_libsrt:
            print("srt-live-transmit not found (apt-get install srt-tools): no libsrt comparison")
        for n in streams:
            ours_runs, ref_runs = ours_all.get(n, []), refs_all.get(n, [])
            ratios = [
                f"{a.cpu_s_per_gb / b.cpu_s_per_gb:.2f}x" + ("" if b.lossless else " (reference lost data)")
                for a, b in zip(ours_runs, ref_runs, strict=False)
                if b.cpu_s > 0 and b.bytes_relayed
            ]
            if ratios:
                print(f"N={n}: cpu per GB ours / srt-live-transmit, every round: {', '.join(ratios)}")
        best = max((n for n in streams if all(r.lossless for r in ours_all.get(n, []))), default=0)
        best_ref = max(
            (n for n in streams if refs_all.get(n) and all(r.lossless for r in refs_all[n])), default=0
        )
        print(f"largest N with zero loss: ours {best} ({best * 8} Mbit/s nominal)", end="")
        print(f", srt-live-transmit {best_ref}" if slt is not None else "")


if __name__ == "__main__":
    asyncio.run(main())
