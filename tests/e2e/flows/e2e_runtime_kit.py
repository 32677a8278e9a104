"""Shared pieces of the runtime e2e tests (``test_e2e_runtime_*.py``): the official SDK as a terse
client (:class:`Sdk`), waits on live emulator state (:func:`wait_until`, :func:`wait_players`,
:func:`loop_tasks`), a paced synthetic RTMP source for our own pushers (:class:`SyntheticSource`), our
RtmpPuller as a recording player on its own loop (:class:`ClientLoop`, :class:`PlayerRecord`), ffmpeg
publishers with another picture size or shifted timestamps (:func:`sized_publisher`), and readers of
what ffmpeg receivers wrote (:func:`video_pes`: PTS and random-access flag; :func:`frame_sizes`).

The real peers themselves (ffmpeg publishers and receivers) come from :mod:`e2e_peers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from emulator.testing import EmulatorThread
from mediaplane.relay import Hub, HubSignal, HubUnit, UnitKind
from mediaplane.rtmp import RtmpPuller
from mediaplane.rtmp.synthetic import synthetic_stream
from tests.e2e.flows.e2e_peers import VIDEO_PID, encode_args
from tests.kit.peers import need_peer

T = TypeVar("T")


def sdk_models() -> Any:
    try:
        from alibabacloud_ice20201109 import models
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        need_peer("the official SDK alibabacloud_ice20201109", exc)
        raise
    return models


class Sdk:
    """The official SDK (``alibabacloud_ice20201109``) against one emulator, one line per operation."""

    def __init__(self, emu: EmulatorThread | str) -> None:
        """``emu``: an EmulatorThread, or the ``host:port`` of a running emulator's API."""
        self.m = sdk_models()
        if isinstance(emu, EmulatorThread):
            self.c = emu.sdk_client()
        else:
            from alibabacloud_ice20201109.client import Client
            from alibabacloud_tea_openapi.models import Config

            config = Config(
                access_key_id="mcemu",
                access_key_secret="mcemu",
                region_id="ap-southeast-1",
                endpoint=emu,
                protocol="http",
            )
            self.c = Client(config)

    def flow(self, name: str, region: str) -> str:
        req = self.m.CreateMediaConnectFlowRequest(flow_name=name, flow_region=region)
        return str(self.c.create_media_connect_flow(req).body.content.flow_id)

    def input(self, flow: str, name: str, proto: str, **kw: Any) -> str:
        req = self.m.AddMediaConnectFlowInputRequest(
            flow_id=flow, input_name=name, input_protocol=proto, **kw
        )
        return str(self.c.add_media_connect_flow_input(req).body.content.input_url)

    def output(self, flow: str, name: str, proto: str, **kw: Any) -> str:
        req = self.m.AddMediaConnectFlowOutputRequest(
            flow_id=flow, output_name=name, output_protocol=proto, **kw
        )
        return str(self.c.add_media_connect_flow_output(req).body.content.output_url)

    def status(self, flow: str, status: str) -> None:
        req = self.m.UpdateMediaConnectFlowStatusRequest(flow_id=flow, status=status)
        self.c.update_media_connect_flow_status(req)

    def delete(self, flow: str) -> None:
        self.c.delete_media_connect_flow(self.m.DeleteMediaConnectFlowRequest(flow_id=flow))

    def chain(self, tag: str, push: str, pull: str) -> tuple[str, str, str, str]:
        """Flow ``{tag}A`` in Singapore (input ``In`` of protocol ``push``, output ``ToB`` of ``pull``) and
        Flow ``{tag}B`` in Frankfurt whose Flow input ``FromA`` pulls it over the backbone (output ``Out``
        of ``pull``), both online: (A, B, A's push URL, B's play URL)."""
        a = self.flow(f"{tag}A", "ap-southeast-1")
        push_url = self.input(a, "In", push)
        self.output(a, "ToB", pull)
        b = self.flow(f"{tag}B", "eu-central-1")
        self.input(b, "FromA", "Flow", pair_flow_id=a, pair_output_name="ToB")
        play_url = self.output(b, "Out", pull)
        self.status(a, "online")
        self.status(b, "online")
        return a, b, push_url, play_url

    def input_info(self, flow: str) -> Any:
        req = self.m.GetMediaConnectFlowInputRequest(flow_id=flow)
        return self.c.get_media_connect_flow_input(req).body.content

    def input_status(self, flow: str) -> str:
        return str(self.input_info(flow).input_status)

    def input_status_is(self, flow: str, status: str) -> Callable[[], bool]:
        """A predicate for :func:`wait_until`."""
        return lambda: self.input_status(flow) == status

    def forbid(self, flow: str, output: str) -> None:
        req = self.m.ForbidMediaConnectFlowOutputRequest(flow_id=flow, output_name=output)
        self.c.forbid_media_connect_flow_output(req)

    def resume(self, flow: str, output: str) -> None:
        req = self.m.ResumeMediaConnectFlowOutputRequest(flow_id=flow, output_name=output)
        self.c.resume_media_connect_flow_output(req)

    def open_failover(self, flow: str) -> None:
        self.c.open_media_connect_flow_failover(self.m.OpenMediaConnectFlowFailoverRequest(flow_id=flow))


def wait_until(pred: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``pred`` until it returns something truthy (returned); AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


async def poll(pred: Callable[[], Any], timeout_s: float, every_s: float = 0.05) -> bool:
    """In a coroutine: wait until ``pred()`` is truthy or ``timeout_s`` passed; returns the last answer."""
    for _ in range(max(1, int(timeout_s / every_s))):
        if pred():
            return True
        await asyncio.sleep(every_s)
    return bool(pred())


def live(emu: EmulatorThread) -> dict[str, Any]:
    """``Runtime.snapshot()`` read on the emulator's loop."""
    snap: dict[str, Any] = emu.run(emu.em.runtime.snapshot)
    return snap


def players(emu: EmulatorThread, flow_id: str, output: str) -> int:
    flows = live(emu)["live_flows"]
    if flow_id not in flows:
        return 0
    out = flows[flow_id]["outputs"][output]
    # A backbone output's leg (the paired flow's puller) is counted apart from players.
    return int(out["players"] or out["srt_callers"] or out["backbone_legs"] or 0)


def wait_players(emu: EmulatorThread, wanted: dict[tuple[str, str], int], timeout: float = 30.0) -> None:
    """Wait until each (flow id, output name) has at least the given number of players."""
    wait_until(
        lambda: all(players(emu, f, o) >= n for (f, o), n in wanted.items()),
        timeout,
        f"players on {sorted(wanted)}",
    )


def rtmp_sessions(emu: EmulatorThread) -> list[dict[str, Any]]:
    """Every RTMP session on every region server."""
    return [s for r in live(emu)["regions"].values() for s in r["rtmp_sessions"]]


def admin_post(emu: EmulatorThread, path: str) -> Any:
    req = urllib.request.Request(f"{emu.api_url}{path}", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=15) as resp:
        return json.loads(resp.read() or b"null")


def loop_tasks(emu: EmulatorThread) -> list[str]:
    """What each task alive on the emulator's loop runs (its coroutine's qualified name, and the task's
    name when it was given one), except the task reading them."""

    def describe(t: asyncio.Task[Any]) -> str:
        coro = t.get_coro()
        what = getattr(coro, "__qualname__", repr(coro))
        name = t.get_name()
        return what if name.startswith("Task-") else f"{what} ({name})"

    def names() -> list[str]:
        me = asyncio.current_task()
        return sorted(describe(t) for t in asyncio.all_tasks() if t is not me and not t.done())

    result: list[str] = emu.call(_async(names))
    return result


def _async(fn: Callable[[], Any]) -> Callable[[], Any]:
    async def run() -> Any:
        return fn()

    return run


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL, as a crashing peer: no goodbye on the wire."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def stop_all(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.communicate(timeout=10)


# -- our own RTMP clients need a source hub ----------------------------------------------------------
class SyntheticSource:
    """A hub fed in real time with a synthetic H.264/AAC-shaped RTMP stream (for :class:`RtmpPusher`)."""

    def __init__(self, name: str = "synthetic", *, bitrate_bps: int = 300_000) -> None:
        self.hub = Hub(name, cache_gop=True)
        self.bitrate_bps = bitrate_bps
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SyntheticSource:
        self.hub.claim(self)
        self._task = asyncio.get_running_loop().create_task(self._feed())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.hub.close()

    async def _feed(self) -> None:
        start = time.monotonic()
        for msg in synthetic_stream(bitrate_bps=self.bitrate_bps, rng=random.Random(1)):
            delay = start + msg.timestamp / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            unit = HubUnit(
                kind=UnitKind(msg.kind), timestamp_ms=msg.timestamp, size=len(msg.payload), payload=msg
            )
            self.hub.feed(unit)


# -- what an ffmpeg receiver wrote -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VideoPes:
    pts: int
    random_access: bool
    """The adaptation field's random_access_indicator: ffmpeg's muxer sets it on keyframes."""


def video_pes(data: bytes) -> list[VideoPes]:
    """Every video PES start in an MPEG-TS byte string, in order (ISO/IEC 13818-1 2.4.3.4, 2.4.3.7)."""
    out = []
    for i in range(0, len(data) - len(data) % 188, 188):
        pkt = data[i : i + 188]
        if pkt[0] != 0x47 or not pkt[1] & 0x40 or ((pkt[1] & 0x1F) << 8 | pkt[2]) != VIDEO_PID:
            continue
        afc = (pkt[3] >> 4) & 0x3
        off = 4
        rai = False
        if afc & 0x2:
            rai = pkt[4] > 0 and bool(pkt[5] & 0x40)
            off += 1 + pkt[4]
        pes = pkt[off:]
        if not afc & 0x1 or len(pes) < 14 or pes[:3] != b"\x00\x00\x01" or not pes[7] & 0x80:
            continue
        p = pes[9:14]
        pts = ((p[0] >> 1) & 0x07) << 30 | p[1] << 22 | (p[2] >> 1) << 15 | p[3] << 7 | p[4] >> 1
        out.append(VideoPes(pts, rai))
    return out


class ClientLoop:
    """An event loop in a daemon thread for our own clients (RtmpPuller, SrtCaller), so they run beside
    blocking test code and apart from the emulator's loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="clients", daemon=True)

    def __enter__(self) -> ClientLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run the coroutine function ``fn`` on the client loop and return its result."""

        async def run() -> T:
            return await fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def run(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run the plain function ``fn`` on the client loop (to read a client's state safely)."""

        async def run() -> T:
            return fn()

        return self.call(run, timeout)


class PlayerRecord:
    """Our RtmpPuller playing a URL into a private hub; every unit that arrives is recorded with its
    arrival time (monotonic), kind, RTMP timestamp and the number of signals (published / unpublished)
    seen before it. Lives on a :class:`ClientLoop`."""

    def __init__(self, url: str, **kw: Any) -> None:
        self.hub = Hub("player", cache_gop=False)
        self.puller = RtmpPuller(url, self.hub, **kw)
        self.units: list[tuple[float, UnitKind, int, Any]] = []
        self.signals: list[tuple[float, str]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sub = self.hub.subscribe("record")
        self._task = asyncio.get_running_loop().create_task(self._record(sub))
        await self.puller.start()

    def _tag(self, unit: HubUnit) -> Any:
        """The fourth field of a recorded unit: here, how many signals came before it."""
        return len(self.signals)

    async def _record(self, sub: Any) -> None:
        while True:
            item = await sub.get()
            now = time.monotonic()
            if isinstance(item, HubUnit):
                self.units.append((now, item.kind, item.timestamp_ms, self._tag(item)))
            else:
                self.signals.append((now, item.value))
                if item is HubSignal.CLOSED:
                    return

    async def close(self) -> None:
        await self.puller.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.hub.close()


def sized_publisher(
    ffmpeg: str, url: str, seconds: float, size: str = "320x240", *, ts_offset_s: float = 0.0
) -> subprocess.Popen[bytes]:
    """:func:`e2e_peers.publisher` with another picture size (``WxH``), so a receiver can tell sources
    apart by the size of the frames it decodes, and optionally its timestamps shifted by ``ts_offset_s``
    (a returning publisher whose timestamps continue where the first left off)."""
    args = [a.replace("size=320x240", f"size={size}") for a in encode_args(seconds)]
    if ts_offset_s:
        args += ["-output_ts_offset", str(ts_offset_s)]
    fmt = "flv" if url.startswith("rtmp") else "mpegts"
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", *args, "-f", fmt, url]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def frame_sizes(data: bytes, workdir: str, name: str) -> tuple[list[tuple[int, int]], int]:
    """The sizes of the decoded video frames of an MPEG-TS byte string, one (w, h) per run of equal
    sizes, and the number of packets that failed to decode."""
    import av

    path = os.path.join(workdir, f"{name}.ts")
    with open(path, "wb") as f:
        f.write(data)
    runs: list[tuple[int, int]] = []
    errors = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                errors += 1
                continue
            for frame in frames:
                size = (frame.width, frame.height)
                if not runs or runs[-1] != size:
                    runs.append(size)
    return runs, errors
