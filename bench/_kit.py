"""Pieces the benchmarks share: the peers' clip, CPU of server processes from /proc, stream checks at
the players (FLV tags, MPEG-TS continuity), ``mcemu up`` and nginx-rtmp as subprocesses, and how a
side-by-side result is printed (every rung's ratio; a reference that lost data is marked).

Not a test module and not part of the packages: the benchmarks import it as ``_kit`` (a script's own
folder is first on ``sys.path``); they import the installed ``emulator`` and ``mediaplane`` (pip
install first).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
NGINX_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
MCEMU = os.path.join(os.path.dirname(sys.executable), "mcemu")
TS_PACKET = 188

KEEP_UP_FRACTION = 0.97
"""A player keeps real time when it received at least this share of the source's rate x window."""
STALL_S = 1.0
"""A player stalled when nothing arrived for longer than this inside the window."""


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# -- CPU of processes ---------------------------------------------------------------------------------
def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds; 0 once it is gone."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid: int) -> list[int]:
    try:
        text = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def rss_mib(pid: int) -> float:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# -- the clip -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Clip:
    """One encode, remuxed once per container, so publishers only copy."""

    mp4: pathlib.Path
    flv: pathlib.Path
    ts: pathlib.Path
    seconds: float

    def rate_bps(self, container: str) -> float:
        """Bytes per second of the clip in ``container`` (flv: what an FLV player writes; ts: what an
        SRT player receives)."""
        path = self.flv if container == "flv" else self.ts
        return path.stat().st_size / self.seconds


def cache_dir() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = pathlib.Path(base) / "mcemu-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_clip(
    *, bitrate: str = "8M", size: str = "1280x720", fps: int = 25, seconds: int = 10, gop_s: int = 2
) -> Clip:
    """The benchmark clip, encoded once and cached: x264 CBR (filler NALs keep the rate flat), a
    keyframe every ``gop_s`` seconds, AAC audio; plus its FLV and MPEG-TS remuxes."""
    ffmpeg = ffmpeg_exe()
    stem = f"clip-{size}-{fps}fps-{bitrate}-{seconds}s-g{gop_s}"
    where = cache_dir()
    mp4, flv, ts = (where / f"{stem}.{ext}" for ext in ("mp4", "flv", "ts"))
    if not mp4.exists():
        tmp = mp4.with_suffix(".part.mp4")
        subprocess.run(
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}",
             "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000",
             "-t", str(seconds), "-pix_fmt", "yuv420p",
             "-c:v", "libx264", "-preset", "veryfast", "-b:v", bitrate, "-minrate", bitrate,
             "-maxrate", bitrate, "-bufsize", bitrate, "-x264-params", "nal-hrd=cbr:force-cfr=1",
             "-g", str(fps * gop_s), "-keyint_min", str(fps * gop_s), "-sc_threshold", "0",
             "-c:a", "aac", "-b:a", "128k", "-ac", "2", str(tmp)],
            check=True,
        )  # fmt: skip
        tmp.rename(mp4)
    for out, fmt in ((flv, "flv"), (ts, "mpegts")):
        if not out.exists() or out.stat().st_mtime < mp4.stat().st_mtime:
            tmp = out.with_name(out.name + ".part")
            subprocess.run(
                [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(mp4),
                 "-c", "copy", "-f", fmt, str(tmp)],
                check=True,
            )  # fmt: skip
            tmp.rename(out)
    return Clip(mp4=mp4, flv=flv, ts=ts, seconds=float(seconds))


def publisher_cmd(clip: Clip, url: str) -> list[str]:
    """ffmpeg publishing the clip in real time, looped, copied (no encoding) to an rtmp:// or srt:// URL."""
    fmt = "flv" if url.startswith("rtmp") else "mpegts"
    return [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1",
        "-i", str(clip.mp4), "-c", "copy", "-f", fmt, url,
    ]  # fmt: skip


def player_cmd(url: str) -> list[str]:
    """ffmpeg reading a URL and writing what arrived to stdout: FLV tags for RTMP (counted by
    :class:`FlvCounter`), the raw MPEG-TS payload for SRT (checked by :class:`TsContinuity`)."""
    ff = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin"]
    if url.startswith("rtmp"):
        return [*ff, "-i", url, "-c", "copy", "-flush_packets", "1", "-f", "flv", "pipe:1"]
    return [*ff, "-f", "data", "-i", url, "-map", "0", "-c", "copy", "-f", "data", "pipe:1"]


def with_query(url: str, **params: object) -> str:
    extra = "&".join(f"{k}={v}" for k, v in params.items())
    return url + ("&" if "?" in url else "?") + extra


# -- stream checks at the players --------------------------------------------------------------------
class TsContinuity:
    """Continuity-counter errors and lost sync in a raw MPEG-TS byte stream, fed in any pieces."""

    def __init__(self) -> None:
        self._rest = b""
        self._last: dict[int, int] = {}
        self.packets = 0
        self.cc_errors = 0
        self.sync_errors = 0

    def feed(self, data: bytes) -> None:
        buf = self._rest + data if self._rest else data
        whole = len(buf) - len(buf) % TS_PACKET
        self._rest = buf[whole:]
        if not whole:
            return
        self.packets += whole // TS_PACKET
        last = self._last
        heads = buf[0:whole:TS_PACKET]
        if heads.count(0x47) != len(heads):
            self.sync_errors += len(heads) - heads.count(0x47)
        for b1, b2, b3 in zip(
            buf[1:whole:TS_PACKET], buf[2:whole:TS_PACKET], buf[3:whole:TS_PACKET], strict=True
        ):
            pid = ((b1 & 0x1F) << 8) | b2
            if pid == 0x1FFF or not b3 & 0x10:  # null packets, no payload: CC does not advance
                continue
            cc = b3 & 0x0F
            prev = last.get(pid)
            if prev is not None and cc != (prev + 1) & 0x0F and cc != prev:
                self.cc_errors += 1
            last[pid] = cc

    @property
    def errors(self) -> int:
        return self.cc_errors + self.sync_errors


_FLV_TAG = struct.Struct(">B3s3sB3s")


class FlvCounter:
    """Video frames, keyframes and missing frames (gaps in the video timestamps) of an FLV byte stream,
    fed in any pieces; tag payloads are skipped, not copied."""

    def __init__(self, frame_ms: float) -> None:
        self.frame_ms = frame_ms
        self._buf = bytearray()
        self._skip = 9 + 4  # the FLV header and PreviousTagSize0
        self.frames = 0
        self.keyframes = 0
        self.missing = 0
        self.last_video_ms: int | None = None

    def feed(self, data: bytes) -> None:
        if self._skip >= len(data):
            self._skip -= len(data)
            return
        view = memoryview(data)[self._skip :]
        self._skip = 0
        buf = self._buf
        buf += view
        off = 0
        while len(buf) - off >= 11:
            kind, size3, ts3, ts_ext, _ = _FLV_TAG.unpack_from(buf, off)
            size = int.from_bytes(size3, "big")
            if kind == 9 and size >= 2:  # video: the frame-type nibble and the AVC packet type
                if len(buf) - off < 13:
                    break
                if buf[off + 12] == 1:  # a coded frame (0 is the sequence header)
                    self._frame((ts_ext << 24) | int.from_bytes(ts3, "big"), buf[off + 11] >> 4 == 1)
            end = off + 11 + size + 4
            if end > len(buf):
                self._skip = end - len(buf)
                off = len(buf)
                break
            off = end
        del buf[:off]

    def _frame(self, ts: int, key: bool) -> None:
        self.frames += 1
        self.keyframes += key
        if self.last_video_ms is not None:
            # Whole frame intervals missing; a fraction is no lost frame: ffmpeg's -stream_loop adds
            # ~21 ms at each loop point (the AAC track ends one audio frame after the video).
            gap = ts - self.last_video_ms
            self.missing += max(0, int(gap / self.frame_ms + 0.25) - 1)
        self.last_video_ms = ts


# -- mcemu up as a subprocess ------------------------------------------------------------------------
EPHEMERAL_TOPOLOGY: dict[str, Any] = {
    "api": {"host": "127.0.0.1", "port": 0},
    "rtmp_port": 0,
    "srt_port_min": 0,
    "srt_port_max": 0,
    "flows": [],
}
"""No flows, every listener on a port the kernel picks (as fixtures/topologies/ephemeral_ports.yaml)."""


class Mcemu:
    """``mcemu up`` with :data:`EPHEMERAL_TOPOLOGY` and ``--api-port 0`` in its own process, so its CPU
    is its own; ``endpoint`` is read from the banner."""

    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="mcemu-bench-")
        topo = os.path.join(self.dir, "topology.yaml")
        with open(topo, "w") as f:
            yaml.safe_dump(EPHEMERAL_TOPOLOGY, f)
        self.stderr = open(os.path.join(self.dir, "stderr.log"), "w+")  # noqa: SIM115 - closed in close()
        cmd = [MCEMU, "--log-level", "WARNING", "up", "--topology", topo, "--api-port", "0",
               "--status-every", "0"]  # fmt: skip
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env={**os.environ, **(extra_env or {})},
        )
        self.pid = self.proc.pid
        self.endpoint = ""
        self.banner: list[str] = []
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.banner.append(line.rstrip())
            found = re.search(r"ICE API: http://(\S+?)/", line)
            if found:
                self.endpoint = found.group(1)
            if line.startswith("URLs again"):
                break
        if not self.endpoint:
            # Read the log before close(), which shuts and deletes it: the start error is in its tail
            # (a process that failed to start has ended its stdout; give it a moment to exit).
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(2)
            code = self.proc.returncode
            tail = self.log_tail()
            self.close()
            status = "still running" if code is None else f"exit status {code}"
            raise RuntimeError(f"mcemu up printed no API endpoint ({status}): {tail}")

    def sdk(self) -> Any:
        """The official SDK (V3 signatures with the placeholder key an open emulator accepts)."""
        from alibabacloud_ice20201109.client import Client
        from alibabacloud_tea_openapi.models import Config

        config = Config(
            access_key_id="mcemu",
            access_key_secret="mcemu",
            region_id="ap-southeast-1",
            endpoint=self.endpoint,
            protocol="http",
        )
        return Client(config)

    def get(self, path: str) -> Any:
        """A GET on an open path (``/metrics`` as text, ``/_emulator/health`` as JSON)."""
        with urllib.request.urlopen(f"http://{self.endpoint}{path}", timeout=10) as resp:
            body = resp.read()
        return body.decode() if path == "/metrics" else json.loads(body)

    def admin(self, path: str) -> Any:
        """A V3-signed admin GET (``/_emulator/links``, ``/_emulator/state``)."""
        from emulator.api.signature import sign_v3

        headers = sign_v3(
            method="GET",
            path=path,
            query={},
            headers={"host": self.endpoint, "accept": "application/json"},
            body=b"",
            access_key_id="mcemu",
            secret="mcemu",
        )
        req = urllib.request.Request(f"http://{self.endpoint}{path}", headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def cpu_s(self) -> float:
        return proc_cpu_s(self.pid)

    def log_tail(self, lines: int = 5) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        return " | ".join(self.stderr.read().splitlines()[-lines:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- nginx-rtmp -------------------------------------------------------------------------------------
def nginx_available() -> bool:
    return shutil.which("nginx") is not None and os.path.exists(NGINX_MODULE)


class Nginx:
    """nginx with the RTMP module in a temporary prefix, one worker, ``application live``; ``push``:
    the rtmp:// URL every published stream is pushed on to (nginx-rtmp's relay)."""

    def __init__(self, push: str | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="mcemu-bench-nginx-")
        conf = os.path.join(self.dir, "nginx.conf")
        push_line = f"push {push};" if push else ""
        with open(conf, "w") as f:
            f.write(
                f"load_module {NGINX_MODULE};\n"
                "worker_processes 1;\nuser root;\n"
                f"pid {self.dir}/nginx.pid;\nerror_log {self.dir}/error.log warn;\n"
                "events { worker_connections 4096; }\n"
                f"rtmp {{ server {{ listen 127.0.0.1:{self.port}; chunk_size 4096;\n"
                f"  application live {{ live on; {push_line} }} }} }}\n"
            )
        self.proc = subprocess.Popen(
            ["nginx", "-p", self.dir, "-c", conf, "-g", "daemon off;"], stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            self.close()
            raise RuntimeError("nginx did not start listening")

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid, *children(self.proc.pid)]

    def cpu_s(self) -> float:
        return sum(proc_cpu_s(p) for p in self.pids)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- printing ----------------------------------------------------------------------------------------
def alternate(rungs: Sequence[int], rounds: int) -> Iterator[tuple[int, int, str]]:
    """(rung, round, side) in the order A B A B at each rung: ours then the reference, ``rounds`` times."""
    for n in rungs:
        for r in range(rounds):
            yield n, r, "ours"
            yield n, r, "ref"


def ratio(ours: float, ref: float) -> str:
    if not ref or ref != ref or ref == float("inf"):
        return "  n/a"
    return f"{ours / ref:5.2f}x"


def loss_mark(lost_fraction: float, what: str = "reference") -> str:
    """An empty string for a run that lost nothing, else a flag naming the loss."""
    if lost_fraction <= 0:
        return ""
    return f"  [{what} LOST {lost_fraction * 100:.1f} % of what it was offered]"


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
