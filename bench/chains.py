"""Benchmark of the product's own path: N chains Singapore -> Frankfurt through real flows and the
backbone link, side by side with what a user would build instead, runs alternating A B A B.

    python bench/chains.py [--proto rtmp|srt|both] [--n 2,8] [--seconds 10] [--rounds 2] [--anchor-delay]

Ours: ``mcemu up`` as a subprocess (ephemeral ports, no flows), the chains built through the official
SDK. RTMP chain: Flow A (ap-southeast-1, RTMP-PUSH in, RTMP-PULL out "ToB") -> Flow B (eu-central-1,
input Flow paired with A's "ToB", RTMP-PULL out); SRT chain: Flow A SRT-Listener in, SRT-Listener out
-> Flow B input Flow, SRT-Listener out (latency 120 ms everywhere). The A -> B hop crosses the
backbone link at its default one-way delay (the region catalogue: 80 ms for this pair; the figure in
force is read back from ``/_emulator/links`` and printed).

Anchors on the same load: nginx-rtmp A (``push``) -> nginx-rtmp B, one worker each; per SRT chain
srt-live-transmit A (listener -> listener) and B (caller -> listener), latency 120 ms. Their A -> B hop
is plain loopback (no delay) unless ``--anchor-delay``: then it crosses our own link (TcpLink /
UdpLink at the same delay) in a separate process whose CPU is printed apart, not in the anchor's.

Per chain: one ffmpeg ``-re -stream_loop -1 -c copy`` publisher of a pre-encoded clip (1280x720 25 fps
x264 CBR 8 Mbit/s, AAC, a keyframe every 2 s; encoded once and cached in ~/.cache/mcemu-bench) and
one ffmpeg player at B writing what it received to a pipe, counted here: bytes, video frames and
frames missing from the timestamps (RTMP), MPEG-TS continuity errors (SRT).

Measured over a window of ``--seconds`` after every player has media and a 2 s warm-up: CPU seconds
of the server processes (ours: the mcemu process; anchors: the nginx master and workers, the
srt-live-transmit processes) per GB delivered at the players. A player kept real time when it got at
least 97 % of the source's rate x window, nothing stalled for more than 1 s and nothing was lost.
One line per run, then per protocol and N the median CPU per GB of both sides, the ratio of every
round and of the medians, the largest N at which every player of every round kept up, and the server
memory each chain adds (RSS per chain: the slope between the smallest and the largest rung).
Figures are machine- and load-dependent: the peers (2 ffmpeg per chain) share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import _kit

A_REGION, B_REGION = "ap-southeast-1", "eu-central-1"
SRT_LATENCY_MS = 120
WARMUP_S = 2.0
START_TIMEOUT_S = 30.0
CLEANUP_TIMEOUT_S = 10.0
READ_CHUNK = 1 << 16


# -- players ------------------------------------------------------------------------------------------
class Player:
    """One ffmpeg player at B, restarted until the window opens (a player may come before the media);
    its stdout is counted here."""

    def __init__(self, url: str, frame_ms: float) -> None:
        self.url = url
        self.rtmp = url.startswith("rtmp")
        self.flv = _kit.FlvCounter(frame_ms)
        self.ts = _kit.TsContinuity()
        self.bytes = 0
        self.last_at = 0.0
        self.window_start: float | None = None
        self.window_end: float | None = None
        self.max_gap = 0.0
        self.exits = 0
        self.proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.proc = await asyncio.create_subprocess_exec(
                *_kit.player_cmd(self.url),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            assert self.proc.stdout is not None
            if self.window_start is None:  # a new connection: new baselines
                self.flv = _kit.FlvCounter(self.flv.frame_ms)
                self.ts = _kit.TsContinuity()
            while data := await self.proc.stdout.read(READ_CHUNK):
                now = time.monotonic()
                if self.window_start is not None and self.window_end is None:
                    self.max_gap = max(self.max_gap, now - max(self.last_at, self.window_start))
                self.last_at = now
                self.bytes += len(data)
                if self.rtmp:
                    self.flv.feed(data)
                else:
                    self.ts.feed(data)
            await self.proc.wait()
            self.exits += 1
            if self.window_start is not None:
                return  # an exit inside the window is a stall, not retried
            await asyncio.sleep(0.5)

    def snapshot(self) -> tuple[int, int, int]:
        """(bytes, video frames, lost: missing frames for RTMP, TS errors for SRT)."""
        lost = self.flv.missing if self.rtmp else self.ts.errors
        return self.bytes, self.flv.frames, lost

    def open_window(self, now: float) -> None:
        self.window_start = now

    def close_window(self, now: float) -> None:
        self.max_gap = max(self.max_gap, now - max(self.last_at, self.window_start or now))
        self.window_end = now

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ProcessLookupError):
                await self._task
        if self.proc is not None:
            if self.proc.stdout is not None:
                # Read the killed player's pipe to its end: asyncio closes a process's transport only
                # once its pipes are closed, and one left open is reported at exit, after the loop.
                with contextlib.suppress(OSError):
                    while await self.proc.stdout.read(READ_CHUNK):
                        pass
            with contextlib.suppress(ProcessLookupError):
                await self.proc.wait()


# -- the two sides ---------------------------------------------------------------------------------
@dataclass
class Setup:
    """What one run built: where each chain is published and played, and the server CPU to count."""

    pairs: list[tuple[str, str]]
    cpu_s: Callable[[], float]
    close: Callable[[], None]
    rss_mib: Callable[[], float] = lambda: 0.0
    link_cpu_s: Callable[[], float] | None = None
    describe: Callable[[], str] | None = None


def setup_ours(proto: str, n: int) -> Setup:
    emu = _kit.Mcemu()
    try:
        from alibabacloud_ice20201109 import models as m

        c = emu.sdk()
        pull = "RTMP-PULL" if proto == "rtmp" else "SRT-Listener"
        push = "RTMP-PUSH" if proto == "rtmp" else "SRT-Listener"
        srt: dict[str, Any] = {} if proto == "rtmp" else {"srt_latency": SRT_LATENCY_MS}
        pairs = []
        for i in range(n):
            a = c.create_media_connect_flow(
                m.CreateMediaConnectFlowRequest(flow_name=f"ChainA{i}", flow_region=A_REGION)
            ).body.content.flow_id
            b = c.create_media_connect_flow(
                m.CreateMediaConnectFlowRequest(flow_name=f"ChainB{i}", flow_region=B_REGION)
            ).body.content.flow_id
            push_url = c.add_media_connect_flow_input(
                m.AddMediaConnectFlowInputRequest(flow_id=a, input_name="In", input_protocol=push, **srt)
            ).body.content.input_url
            c.add_media_connect_flow_output(
                m.AddMediaConnectFlowOutputRequest(flow_id=a, output_name="ToB", output_protocol=pull, **srt)
            )
            c.add_media_connect_flow_input(
                m.AddMediaConnectFlowInputRequest(
                    flow_id=b,
                    input_name="FromA",
                    input_protocol="Flow",
                    pair_flow_id=a,
                    pair_output_name="ToB",
                )
            )
            play_url = c.add_media_connect_flow_output(
                m.AddMediaConnectFlowOutputRequest(flow_id=b, output_name="Out", output_protocol=pull, **srt)
            ).body.content.output_url
            for flow in (a, b):
                c.update_media_connect_flow_status(
                    m.UpdateMediaConnectFlowStatusRequest(flow_id=flow, status="online")
                )
            if proto == "srt":
                push_url = _kit.with_query(
                    push_url, mode="caller", latency=SRT_LATENCY_MS * 1000, pkt_size=1316
                )
                play_url = _kit.with_query(play_url, mode="caller", latency=SRT_LATENCY_MS * 1000)
            pairs.append((push_url, play_url))
    except BaseException:
        emu.close()
        raise
    return Setup(
        pairs=pairs,
        cpu_s=emu.cpu_s,
        close=emu.close,
        rss_mib=lambda: _kit.rss_mib(emu.pid),
        describe=lambda: backbone_delay(emu.admin),
    )


def backbone_delay(emu_admin: Callable[[str], Any]) -> str:
    """The one-way delay of the live A -> B links, as ``/_emulator/links`` reports it."""
    try:
        view = emu_admin("/_emulator/links")
    except OSError as exc:
        return f"(links not readable: {exc})"
    delays = {(link["from"], link["to"], link["forward"].get("delay_ms")) for link in view.get("links", [])}
    return ", ".join(f"{s} -> {d} {ms:g} ms" for s, d, ms in sorted(delays)) or "no live link"


class LinkProcess:
    """Our links (TcpLink for RTMP, UdpLink for SRT) at a one-way delay in a child process, for the
    anchors' A -> B hop; its CPU is counted apart."""

    def __init__(self, kind: str, targets: list[int], delay_ms: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve-link", kind, str(delay_ms),
             *(str(t) for t in targets)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.ports = [int(p) for p in self.proc.stdout.readline().split()]

    def cpu_s(self) -> float:
        return _kit.proc_cpu_s(self.proc.pid)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


async def serve_links(kind: str, delay_ms: float, targets: list[int]) -> None:
    from mediaplane.netem import Impairment
    from mediaplane.netem.link import TcpLink, UdpLink

    imp = Impairment(delay_ms=delay_ms)
    links: list[Any] = [
        (TcpLink if kind == "tcp" else UdpLink)(target=("127.0.0.1", t), impairment=imp, seed=1)
        for t in targets
    ]
    for link in links:
        await link.start()
    print(" ".join(str(link.port) for link in links), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()  # until the parent closes stdin
    for link in links:
        await link.close()


def setup_anchor(proto: str, n: int, delay_ms: float | None) -> Setup:
    if proto == "rtmp":
        return _anchor_nginx(n, delay_ms)
    return _anchor_slt(n, delay_ms)


def _anchor_nginx(n: int, delay_ms: float | None) -> Setup:
    b = _kit.Nginx()
    link = None
    a = None
    try:
        target = b.port
        if delay_ms is not None:
            link = LinkProcess("tcp", [b.port], delay_ms)
            target = link.ports[0]
        a = _kit.Nginx(push=f"rtmp://127.0.0.1:{target}/live")
    except BaseException:
        for x in (a, link, b):
            if x is not None:
                x.close()
        raise
    pairs = [
        (f"rtmp://127.0.0.1:{a.port}/live/c{i}", f"rtmp://127.0.0.1:{b.port}/live/c{i}") for i in range(n)
    ]

    def close() -> None:
        assert a is not None
        a.close()
        b.close()
        if link is not None:
            link.close()

    return Setup(
        pairs=pairs,
        cpu_s=lambda: a.cpu_s() + b.cpu_s(),
        close=close,
        rss_mib=lambda: sum(_kit.rss_mib(p) for p in a.pids + b.pids),
        link_cpu_s=link.cpu_s if link is not None else None,
    )


def _anchor_slt(n: int, delay_ms: float | None) -> Setup:
    slt = shutil.which("srt-live-transmit")
    assert slt is not None
    udp = socket.SOCK_DGRAM
    ins = [_kit.free_port(udp) for _ in range(n)]
    mids = [_kit.free_port(udp) for _ in range(n)]
    outs = [_kit.free_port(udp) for _ in range(n)]
    lat = f"latency={SRT_LATENCY_MS}"
    procs: list[subprocess.Popen[bytes]] = []
    link = None
    try:
        if delay_ms is not None:
            link = LinkProcess("udp", mids, delay_ms)
        via = link.ports if link is not None else mids
        for i in range(n):
            procs.append(
                subprocess.Popen(
                    [
                        slt,
                        "-q",
                        f"srt://:{ins[i]}?mode=listener&{lat}",
                        f"srt://:{mids[i]}?mode=listener&{lat}",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            procs.append(
                subprocess.Popen(
                    [
                        slt,
                        "-q",
                        f"srt://127.0.0.1:{via[i]}?mode=caller&{lat}",
                        f"srt://:{outs[i]}?mode=listener&{lat}",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    except BaseException:
        _kill(procs)
        if link is not None:
            link.close()
        raise
    lat_us = f"latency={SRT_LATENCY_MS * 1000}"
    pairs = [
        (
            f"srt://127.0.0.1:{ins[i]}?mode=caller&{lat_us}&pkt_size=1316",
            f"srt://127.0.0.1:{outs[i]}?mode=caller&{lat_us}",
        )
        for i in range(n)
    ]

    def close() -> None:
        _kill(procs)
        if link is not None:
            link.close()

    return Setup(
        pairs=pairs,
        cpu_s=lambda: sum(_kit.proc_cpu_s(p.pid) for p in procs),
        close=close,
        rss_mib=lambda: sum(_kit.rss_mib(p.pid) for p in procs),
        link_cpu_s=link.cpu_s if link is not None else None,
    )


def _kill(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# -- one run ------------------------------------------------------------------------------------------
@dataclass
class Run:
    proto: str
    side: str
    n: int
    round: int
    seconds: float
    cpu_s: float = 0.0
    link_cpu_s: float | None = None
    bytes: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    stalls: list[float] = field(default_factory=list)
    started: int = 0
    expected_bytes: float = 0.0
    rss_mib: float = 0.0
    peers_cpu_s: float = 0.0
    error: str = ""

    @property
    def delivered_gb(self) -> float:
        return sum(self.bytes) / 1e9

    @property
    def cpu_per_gb(self) -> float:
        return self.cpu_s / self.delivered_gb if self.delivered_gb else float("inf")

    @property
    def slowest(self) -> float:
        return min(self.bytes) / self.expected_bytes if self.bytes and self.expected_bytes else 0.0

    @property
    def kept_up(self) -> bool:
        return (
            not self.error
            and self.started == self.n
            and self.slowest >= _kit.KEEP_UP_FRACTION
            and max(self.stalls, default=0.0) <= _kit.STALL_S
            and not any(self.lost)
        )

    def line(self) -> str:
        name = "mcemu" if self.side == "ours" else ("nginx-rtmp" if self.proto == "rtmp" else "srt-live-tx")
        if self.error:
            return f"{self.proto} N={self.n:<3} round {self.round + 1} {name:<11} FAILED: {self.error}"
        link = f" (+ anchor link {self.link_cpu_s:.2f} s)" if self.link_cpu_s is not None else ""
        fps = min(self.frames) / self.seconds if self.frames else 0.0
        return (
            f"{self.proto} N={self.n:<3} round {self.round + 1} {name:<11} server CPU {self.cpu_s:6.2f} s"
            f"{link} ({100 * self.cpu_s / self.seconds:5.1f} % of a core)  delivered "
            f"{self.delivered_gb * 8 / self.seconds * 1000:7.1f} Mbit/s  {self.cpu_per_gb:7.2f} CPU-s/GB  "
            f"slowest {self.slowest * 100:5.1f} %  "
            + (f"min {fps:4.1f} fps  " if self.proto == "rtmp" else "")
            + f"max stall {max(self.stalls, default=0.0):4.2f} s  "
            f"{'missing frames' if self.proto == 'rtmp' else 'TS errors'} {sum(self.lost)}  "
            f"players {self.started}/{self.n}  RSS {self.rss_mib:6.1f} MiB  "
            f"peers CPU {self.peers_cpu_s:5.1f} s  "
            f"{'ok' if self.kept_up else 'FELL BEHIND'}"
        )


async def run_one(
    proto: str, side: str, n: int, rnd: int, args: argparse.Namespace, clip: _kit.Clip
) -> tuple[Run, str]:
    result = Run(proto=proto, side=side, n=n, round=rnd, seconds=args.seconds)
    result.expected_bytes = clip.rate_bps("flv" if proto == "rtmp" else "ts") * args.seconds
    loop = asyncio.get_running_loop()
    delay = args.anchor_delay_ms if args.anchor_delay else None
    setup: Setup = await loop.run_in_executor(
        None, lambda: setup_ours(proto, n) if side == "ours" else setup_anchor(proto, n, delay)
    )
    note = ""
    publishers: list[asyncio.subprocess.Process] = []
    players: list[Player] = []
    try:
        for pub_url, _ in setup.pairs:
            publishers.append(
                await asyncio.create_subprocess_exec(
                    *_kit.publisher_cmd(clip, pub_url),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            )
        await asyncio.sleep(1.5)
        players = [Player(play_url, 1000 / 25) for _, play_url in setup.pairs]
        for p in players:
            p.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and not all(p.bytes for p in players):  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # polling counters the player tasks keep
        result.started = sum(1 for p in players if p.bytes)
        await asyncio.sleep(WARMUP_S)
        dead = [i for i, p in enumerate(publishers) if p.returncode is not None]
        if dead:
            result.error = f"publishers {dead} exited before the window"
        if setup.describe is not None and rnd == 0:
            note = await loop.run_in_executor(None, setup.describe)
        peers0 = _peers_cpu(publishers, players)
        cpu0 = setup.cpu_s()
        link0 = setup.link_cpu_s() if setup.link_cpu_s else 0.0
        now = time.monotonic()
        snap0 = [p.snapshot() for p in players]
        for p in players:
            p.open_window(now)
        await asyncio.sleep(args.seconds)
        now = time.monotonic()
        snap1 = [p.snapshot() for p in players]
        cpu1 = setup.cpu_s()
        for p in players:
            p.close_window(now)
        result.cpu_s = cpu1 - cpu0
        if setup.link_cpu_s:
            result.link_cpu_s = setup.link_cpu_s() - link0
        result.peers_cpu_s = _peers_cpu(publishers, players) - peers0
        result.rss_mib = setup.rss_mib()
        result.bytes = [b[0] - a[0] for a, b in zip(snap0, snap1, strict=True)]
        result.frames = [b[1] - a[1] for a, b in zip(snap0, snap1, strict=True)]
        result.lost = [b[2] - a[2] for a, b in zip(snap0, snap1, strict=True)]
        result.stalls = [p.max_gap for p in players]
    finally:
        # Every step bounded: a peer that will not die must not hang the ladder (the leftovers go in
        # the process-group sweep at exit).
        for p in players:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(p.stop(), CLEANUP_TIMEOUT_S)
        for pub in publishers:
            if pub.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    pub.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(pub.wait(), CLEANUP_TIMEOUT_S)
        try:
            await asyncio.wait_for(loop.run_in_executor(None, setup.close), 3 * CLEANUP_TIMEOUT_S)
        except TimeoutError:
            result.error = result.error or "the servers did not close in time (killed at exit)"
    return result, note


def _peers_cpu(publishers: list[asyncio.subprocess.Process], players: list[Player]) -> float:
    pids = [p.pid for p in publishers] + [p.proc.pid for p in players if p.proc is not None]
    return sum(_kit.proc_cpu_s(pid) for pid in pids)


# -- the ladder and the summary -----------------------------------------------------------------------
def summary(runs: list[Run], rungs: list[int], proto: str) -> None:
    ref_name = "nginx-rtmp" if proto == "rtmp" else "srt-live-transmit"
    print(
        f"\n{proto.upper()} summary: CPU-s per GB delivered at the players (median of rounds), "
        f"mcemu / {ref_name}"
    )
    print(
        f"  {'N':>4} {'mcemu':>9} {ref_name:>18} {'ratio':>7}  {'ratio per round':<24} "
        f"{'mcemu kept up':>14} {ref_name + ' kept up':>26}"
    )
    best = {"ours": 0, "ref": 0}
    for n in rungs:
        ours = [r for r in runs if r.proto == proto and r.n == n and r.side == "ours"]
        refs = [r for r in runs if r.proto == proto and r.n == n and r.side == "ref"]
        if not ours and not refs:
            continue
        o = _kit.median([r.cpu_per_gb for r in ours])
        a = _kit.median([r.cpu_per_gb for r in refs])
        per_round = " ".join(
            _kit.ratio(x.cpu_per_gb, y.cpu_per_gb).strip() for x, y in zip(ours, refs, strict=False)
        )
        ok_o = bool(ours) and all(r.kept_up for r in ours)
        ok_a = bool(refs) and all(r.kept_up for r in refs)
        if ok_o:
            best["ours"] = max(best["ours"], n)
        if ok_a:
            best["ref"] = max(best["ref"], n)
        lost = "" if ok_a else "  <- the reference fell behind or lost data: its figure is not a fair anchor"
        print(
            f"  {n:>4} {o:9.2f} {a:18.2f} {_kit.ratio(o, a):>7}  {per_round:<24} "
            f"{_ok(ours):>14} {_ok(refs):>26}{lost}"
        )
    print(
        f"  largest N at which every player kept up (of the rungs run): mcemu {best['ours']}, "
        f"{ref_name} {best['ref']}"
    )
    per_chain = {side: rss_per_chain(runs, proto, side) for side in ("ours", "ref")}
    if any(v == v for v in per_chain.values()):
        print(
            f"  RSS per chain (slope of the median RSS from the smallest to the largest rung): "
            f"mcemu {per_chain['ours']:.2f} MiB, {ref_name} {per_chain['ref']:.2f} MiB"
        )


def rss_per_chain(runs: list[Run], proto: str, side: str) -> float:
    """MiB of server RSS each chain adds: the median RSS at the largest rung less the one at the
    smallest, over the chains between them (what the process holds without chains cancels out)."""
    ok = [r for r in runs if r.proto == proto and r.side == side and not r.error and r.rss_mib]
    rungs = sorted({r.n for r in ok})
    if len(rungs) < 2:
        return float("nan")
    lo, hi = rungs[0], rungs[-1]
    rss = {n: _kit.median([r.rss_mib for r in ok if r.n == n]) for n in (lo, hi)}
    return (rss[hi] - rss[lo]) / (hi - lo)


def _ok(runs: list[Run]) -> str:
    return f"{sum(r.kept_up for r in runs)}/{len(runs)} rounds"


async def main(args: argparse.Namespace) -> list[Run]:
    protos = ["rtmp", "srt"] if args.proto == "both" else [args.proto]
    rungs = [int(x) for x in args.n.split(",")]
    if "rtmp" in protos and not _kit.nginx_available():
        raise SystemExit(
            "nginx with libnginx-mod-rtmp is needed for the RTMP anchor (apt-get install libnginx-mod-rtmp)"
        )
    if "srt" in protos and shutil.which("srt-live-transmit") is None:
        raise SystemExit("srt-live-transmit is needed for the SRT anchor (apt-get install srt-tools)")
    clip = await asyncio.get_running_loop().run_in_executor(None, _kit.make_clip)
    print(
        f"clip: {clip.mp4.name}: {clip.rate_bps('flv') * 8 / 1e6:.2f} Mbit/s as FLV, "
        f"{clip.rate_bps('ts') * 8 / 1e6:.2f} Mbit/s as MPEG-TS; cores: {os.cpu_count()}; "
        f"window {args.seconds:g} s after a {WARMUP_S:g} s warm-up; rungs {rungs}; rounds {args.rounds}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    if args.anchor_delay:
        print(
            f"anchors: their A -> B hop crosses our link at {args.anchor_delay_ms:g} ms in a child process "
            "(its CPU printed apart, not in the anchor's)"
        )
    else:
        print(
            "anchors: their A -> B hop is plain loopback, WITHOUT the backbone delay (--anchor-delay adds it)"
        )
    runs: list[Run] = []
    for proto in protos:
        for n, rnd, side in _kit.alternate(rungs, args.rounds):
            try:
                run, note = await run_one(proto, side, n, rnd, args, clip)
            except Exception as exc:  # one failed run is a printed line, not the end of the ladder
                run, note = (
                    Run(proto=proto, side=side, n=n, round=rnd, seconds=args.seconds, error=repr(exc)),
                    "",
                )
            if note:
                print(f"backbone link in force (from the puller's region to the server's): {note}")
            runs.append(run)
            print(run.line(), flush=True)
    for proto in protos:
        summary(runs, rungs, proto)
    return runs


def sweep_children() -> None:
    """Kill whatever this run started and left (a hung peer, a ^C mid-run): the bench leads its own
    process group, so one signal to the group reaches every publisher, player, server and link child."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(os.getpgrp(), signal.SIGTERM)


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--serve-link":
        asyncio.run(serve_links(sys.argv[2], float(sys.argv[3]), [int(x) for x in sys.argv[4:]]))
        sys.exit(0)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proto", choices=["rtmp", "srt", "both"], default="both")
    ap.add_argument("--n", default="2,8", help="comma-separated chain counts (rungs)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured window per run")
    ap.add_argument("--rounds", type=int, default=2, help="A B pairs per rung")
    ap.add_argument("--anchor-delay", action="store_true", help="the anchors' A -> B hop through our link")
    ap.add_argument("--anchor-delay-ms", type=float, default=80.0, help="its one-way delay (default 80)")
    ap.add_argument("--json", default="", help="also write every run to this JSON file")
    raise_fd_limit()
    parsed = ap.parse_args()
    with contextlib.suppress(PermissionError):  # already a group leader (e.g. an interactive shell's job)
        os.setpgid(0, 0)
    try:
        all_runs = asyncio.run(main(parsed))
    finally:
        sweep_children()
    if parsed.json:
        with open(parsed.json, "w") as f:
            json.dump([r.__dict__ for r in all_runs], f, indent=1)
