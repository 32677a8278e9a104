"""Shared pieces of the attack tests (``test_attacks_*.py``, issue 8): an emulator in a subprocess with a
real ffmpeg RTMP relay and SRT relay crossing Singapore -> Frankfurt, the figures every attack is judged
by, and the attackers themselves (raw SRT and RTMP peers built on the package's sans-IO cores).

* :class:`EmulatorProcess`: ``mcemu up --topology FILE --api-port 0`` in a subprocess (so its RSS and
  file descriptors are its own and a freeze cannot stop the test), its printed URLs, its log lines with
  their arrival times, RSS and fd samples, plain and V3-signed HTTP calls, ``/metrics`` parsed.
* :class:`HealthSampler`: a separate process GETting ``/_emulator/health`` every 50 ms (a thread of the
  test process would measure the test's own GIL contention while an attacker thread floods).
* :class:`Stack`: the emulator, two ffmpeg publishers and two ffmpeg players (frame arrival times from
  ``e2e_peers.Receiver``), restarted when an earlier attack left it dead.
* :func:`judge`: run one attack and assert what issue 8 demands during and after it: frame rate at both
  players within 10 % of the source after the attack and no stall longer than 1 s, ``/_emulator/health``
  p90 latency within 100 ms during it, RSS within +100 MiB and back, file descriptors back to baseline.
  The frame rate and health figures are judged against the same figures measured just before the attack
  (:data:`BEFORE_WINDOW_S`), so a machine that other jobs load (the publishers' encoders slowed, every
  request a little later) does not read as damage done by the attack; on a quiet machine the baseline is
  the source's rate and a few ms, and the bounds are the absolute ones above.
* :class:`RawSrtCaller` (the sans-IO :class:`~mediaplane.srt.SrtConnection` on a blocking UDP socket,
  able to inject forged control packets), :class:`RawRtmp` (handshake by
  :class:`~mediaplane.rtmp.handshake.ClientHandshake`, then whatever bytes the attack wants), UDP floods.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import itertools
import json
import os
import pathlib
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.api.signature import (
    v3_authorization,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)
from mediaplane.rtmp.handshake import ClientHandshake
from mediaplane.srt import SrtConfig, SrtConnection
from mediaplane.srt.circular import SEQ_MASK, seq_diff
from mediaplane.srt.events import ConnectionClosed, PayloadReceived
from mediaplane.srt.handshake import Handshake, parse_handshake
from tests.e2e.flows.e2e_peers import FPS, Receiver, publisher
from tests.e2e.flows.e2e_runtime_kit import stop_all, wait_until

__all__ = [
    "A_REGION",
    "B_REGION",
    "FPS",
    "PASSPHRASE",
    "EmulatorProcess",
    "Judgement",
    "RawRtmp",
    "RawSrtCaller",
    "Stack",
    "conclusion_templates",
    "induction_packet",
    "judge",
    "raise_fd_limit",
    "relay_topology",
    "udp_flood",
    "wait_until",
]

A_REGION, B_REGION = "ap-southeast-1", "eu-central-1"
PASSPHRASE = "attack-test-passphrase"
"""The passphrase of the SrtSecure flow's input (the conclusion-flood target)."""
REPO = pathlib.Path(__file__).resolve().parents[3]

# What issue 8 demands of every attack.
RATE_TOLERANCE = 0.10
"""Frame rate at each player after the attack within 10 % of the source's."""
MAX_STALL_S = 1.0
"""No gap between two frames arriving at a player longer than this during the attack."""
HEALTH_P90_S = 0.100
"""``/_emulator/health`` p90 latency over the attack, above its p90 just before the attack."""
RSS_GROWTH_MIB = 100.0
"""RSS never more than this above the baseline during the attack."""
RSS_RETURN_MIB = 25.0
"""RSS back within this of the baseline once the attacker closed."""
FD_SLACK = 2
"""The health sampler's connection and a backbone reconnect may hold a descriptor or two at any moment."""

# How the judge measures.
SETTLE_S = 1.0
"""After the attack ends, time for queues to drain before the after-window starts."""
AFTER_WINDOW_S = 4.0
"""The after-attack frame-rate window (long enough that ffmpeg's pipe chunking is small against it)."""
MIN_ATTACK_WINDOW_S = 2.0
"""A one-packet attack is judged over at least this much time after it."""
RETURN_TIMEOUT_S = 30.0
BEFORE_WINDOW_S = 5.0
"""The baseline window just before the attack (the frame rate and health latency the attack is judged
against; :meth:`Stack.ensure` has checked delivery over the last 3 s of it)."""


def relay_topology(**extra: Any) -> dict[str, Any]:
    """The attack scene, every port ephemeral: an RTMP relay and an SRT relay Singapore -> Frankfurt
    (Flow A push/listener in, pull/listener out ``ToB``; Flow B fed by ``ToB``, output ``Out``), a
    passphrase SRT listener input (SrtSecure) and a plain SRT listener input for our raw publisher
    (SrtDrop), both in Singapore."""
    doc: dict[str, Any] = {
        "rtmp_port": 0,
        "srt_port_min": 0,
        "srt_port_max": 0,
        "api": {"host": "127.0.0.1", "port": 0},
        "seed": 8,
        "flows": [
            _flow("RtmpA", A_REGION, {"name": "In", "protocol": "RTMP-PUSH"}, "ToB", "RTMP-PULL"),
            _flow("RtmpB", B_REGION, _pair("RtmpA", "ToB"), "Out", "RTMP-PULL"),
            _flow("SrtA", A_REGION, {"name": "In", "protocol": "SRT-Listener"}, "ToB", "SRT-Listener"),
            _flow("SrtB", B_REGION, _pair("SrtA", "ToB"), "Out", "SRT-Listener"),
            _flow(
                "SrtSecure",
                A_REGION,
                {"name": "In", "protocol": "SRT-Listener", "srt_passphrase": PASSPHRASE},
                "Out",
                "SRT-Listener",
            ),
            _flow("SrtDrop", A_REGION, {"name": "In", "protocol": "SRT-Listener"}, "Out", "SRT-Listener"),
        ],
    }
    doc.update(extra)
    return doc


def _flow(name: str, region: str, inp: dict[str, Any], out: str, proto: str) -> dict[str, Any]:
    return {
        "name": name,
        "region": region,
        "status": "online",
        "input": inp,
        "outputs": [{"name": out, "protocol": proto}],
    }


def _pair(flow: str, output: str) -> dict[str, Any]:
    return {"name": "FromA", "protocol": "Flow", "pair_flow": flow, "pair_output": output}


def raise_fd_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to the hard limit (children inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the emulator in a subprocess ---------------------------------------------------------------------
_URL_LINE = re.compile(r"^\s+(\S+/\S+)\s+(push to|play) (\S+)\s+(\S+://\S+)$")
_REGION_LINE = re.compile(r"^\s+region (\S+)\s.*rtmp://([\d.]+):(\d+)/")
_API_LINE = re.compile(r"ICE API: http://([\d.]+):(\d+)/")
_METRIC = re.compile(r"^(\w+)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class HttpAnswer:
    status: int
    body: bytes
    latency_s: float

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class EmulatorProcess:
    """``python -m emulator.cli up`` on a topology, in a subprocess; see the module docstring."""

    def __init__(self, topology: dict[str, Any], workdir: pathlib.Path, name: str = "emulator") -> None:
        self.topology_path = workdir / f"{name}.json"
        self.topology_path.write_text(json.dumps(topology))
        cmd = [
            sys.executable, "-m", "emulator.cli", "--log-level", "INFO", "up",
            "--topology", str(self.topology_path), "--api-port", "0", "--status-every", "0",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,  # a Ctrl-C of the test run does not reach it before its teardown
        )
        self.pid = self.proc.pid
        self.stdout: list[str] = []
        self.log: list[tuple[float, str]] = []
        self._up = threading.Event()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        if not self._up.wait(30):
            self.stop()
            raise AssertionError(f"mcemu up did not come up: {self.stdout[-3:]} {self.log[-5:]}")
        self.urls: dict[tuple[str, str], str] = {}
        self.rtmp_ports: dict[str, tuple[str, int]] = {}
        self.api_host, self.api_port = "", 0
        for line in self.stdout:
            if m := _API_LINE.search(line):
                self.api_host, self.api_port = m.group(1), int(m.group(2))
            elif m := _REGION_LINE.match(line):
                self.rtmp_ports[m.group(1)] = (m.group(2), int(m.group(3)))
            elif m := _URL_LINE.match(line):
                self.urls[(m.group(1).split("/", 1)[1], m.group(3))] = m.group(4)
        assert self.api_port, self.stdout

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line.rstrip("\n"))
            if "Ctrl-C to stop." in line:  # the last line of the banner
                self._up.set()
        self._up.set()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append((time.monotonic(), line.rstrip("\n")))

    # -- what it costs --------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_mib(self) -> float:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def log_lines(self, since: float, until: float | None = None) -> list[str]:
        """Log lines (stderr) that arrived between two monotonic times."""
        end = until if until is not None else float("inf")
        return [line for t, line in list(self.log) if since <= t <= end]

    @staticmethod
    def level_of(line: str) -> str:
        parts = line.split(" ", 3)
        return parts[2] if len(parts) > 2 else ""

    # -- HTTP ----------------------------------------------------------------------------------
    def url(self, role_flow: str, role: str) -> str:
        """A printed URL: ``url("RtmpA", "push to In")`` style keys are ``(flow, "In")``."""
        return self.urls[(role_flow, role)]

    def http(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 15.0,
    ) -> HttpAnswer:
        """One request on a fresh connection; any status is returned, never raised."""
        started = time.monotonic()
        conn = http.client.HTTPConnection(self.api_host, self.api_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return HttpAnswer(resp.status, data, time.monotonic() - started)
        finally:
            conn.close()

    def signed(self, method: str, path: str, body: bytes = b"", *, ak: str, secret: str) -> HttpAnswer:
        """A request with an ACS3-HMAC-SHA256 (V3) signature, built from the package's own pure signing
        steps (the same ones the SDK's signer follows)."""
        route, _, qs = path.partition("?")
        query = dict(p.split("=", 1) if "=" in p else (p, "") for p in qs.split("&") if p)
        digest = hashlib.sha256(body).hexdigest()
        headers = {
            "host": f"{self.api_host}:{self.api_port}",
            "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "x-acs-signature-nonce": uuid.uuid4().hex,
            "x-acs-content-sha256": digest,
            "content-type": "application/json",
        }
        canonical = v3_canonical_request(method, route, query, headers.items(), headers, digest)
        sig = v3_signature(secret, v3_string_to_sign(canonical))
        headers["Authorization"] = v3_authorization(ak, headers, sig)
        return self.http(method, path, body, headers=headers)

    def state(self) -> dict[str, Any]:
        answer = self.http("GET", "/_emulator/state")
        assert answer.status == 200, answer
        state: dict[str, Any] = answer.json()
        return state

    def flow_ids(self) -> dict[str, str]:
        return {f["name"]: f["id"] for f in self.state()["flows"]}

    def metrics(self) -> list[tuple[str, dict[str, str], float]]:
        """``/metrics`` as (name, labels, value) rows."""
        answer = self.http("GET", "/metrics")
        assert answer.status == 200, answer
        rows = []
        for line in answer.body.decode().splitlines():
            m = _METRIC.match(line)
            if m:
                labels = dict(_LABEL.findall(m.group(2)))
                rows.append((m.group(1), labels, float(m.group(3))))
        return rows

    def metric_sum(self, name: str, **labels: str) -> float:
        return sum(
            v
            for n, lab, v in self.metrics()
            if n == name and all(lab.get(k) == want for k, want in labels.items())
        )

    def stop(self) -> None:
        """SIGINT (``mcemu up`` shuts down cleanly), SIGKILL if it does not within 15 s (frozen)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# -- figures -----------------------------------------------------------------------------------------
_HEALTH_LOOP = """
import http.client, sys, time
host, port = sys.argv[1], int(sys.argv[2])
while True:
    t = time.monotonic()
    status = 0
    try:
        c = http.client.HTTPConnection(host, port, timeout=5)
        c.request("GET", "/_emulator/health")
        r = c.getresponse()
        r.read()
        status = r.status
        c.close()
    except OSError:
        pass
    d = time.monotonic() - t
    print(f"{t:.6f} {d:.6f} {status}", flush=True)
    time.sleep(max(0.0, 0.05 - d))
"""


class HealthSampler:
    """A separate process timing ``GET /_emulator/health`` every 50 ms (start monotonic time, latency,
    status; a failure counts as status 0)."""

    def __init__(self, host: str, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HEALTH_LOOP, host, str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.samples: list[tuple[float, float, int]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            t, d, s = line.split()
            self.samples.append((float(t), float(d), int(s)))

    def window(self, t0: float, t1: float) -> list[tuple[float, int]]:
        """(latency, status) of every request started between ``t0`` and ``t1``."""
        return [(d, s) for t, d, s in list(self.samples) if t0 <= t <= t1]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


class ResourceMonitor:
    """Samples the emulator's RSS and fd count every 100 ms in a thread."""

    def __init__(self, emu: EmulatorProcess) -> None:
        self.emu = emu
        self.samples: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            with contextlib.suppress(OSError, AssertionError):
                self.samples.append((time.monotonic(), self.emu.rss_mib(), self.emu.fds()))

    def peak_rss(self, t0: float, t1: float) -> float:
        return max((r for t, r, _ in list(self.samples) if t0 <= t <= t1), default=float("nan"))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class Player:
    """A real ffmpeg player (``e2e_peers.Receiver``) and the frame-rate figures of what it received."""

    def __init__(self, ffmpeg: str, url: str) -> None:
        self.url = url
        self.started = time.monotonic()
        self.rx = Receiver(ffmpeg, url)

    def arrivals(self) -> list[float]:
        return sorted(self.rx.arrivals.values())

    def rate(self, t0: float, t1: float) -> float:
        """Video frames per second that arrived between two monotonic times."""
        return sum(1 for t in self.arrivals() if t0 <= t < t1) / (t1 - t0)

    def max_stall(self, t0: float, t1: float) -> float:
        """The longest time without a frame arriving over ``[t0, t1]`` (edges included)."""
        times = [t0, *(t for t in self.arrivals() if t0 < t < t1), t1]
        return max(b - a for a, b in itertools.pairwise(times))

    @property
    def alive(self) -> bool:
        return self.rx.proc.poll() is None

    def stop(self) -> None:
        self.rx.stop()


class Stack:
    """The emulator with both relays flowing: ffmpeg publishers into RtmpA/In and SrtA/In, ffmpeg
    players on RtmpB/Out and SrtB/Out. :meth:`ensure` (re)builds it when it is not delivering."""

    PUBLISH_S = 3600.0

    def __init__(self, ffmpeg: str, workdir: pathlib.Path) -> None:
        self.ffmpeg = ffmpeg
        self.workdir = workdir
        self.emu: EmulatorProcess | None = None
        self.health: HealthSampler | None = None
        self.monitor: ResourceMonitor | None = None
        self.publishers: list[subprocess.Popen[bytes]] = []
        self.players: dict[str, Player] = {}
        self.starts = 0

    @property
    def e(self) -> EmulatorProcess:
        assert self.emu is not None
        return self.emu

    def start(self) -> None:
        self.starts += 1
        emu = self.emu = EmulatorProcess(relay_topology(), self.workdir, f"relays{self.starts}")
        self.health = HealthSampler(emu.api_host, emu.api_port)
        self.monitor = ResourceMonitor(emu)
        self.publishers = [
            publisher(self.ffmpeg, emu.url("RtmpA", "In"), self.PUBLISH_S),
            publisher(self.ffmpeg, emu.url("SrtA", "In") + "?latency=120000", self.PUBLISH_S),
        ]

        def fed() -> bool:
            flows = emu.state()["live_flows"].values()
            ins = {f["name"]: f["inputs"] for f in flows}
            return all(ins[n]["FromA"]["bytes_in"] > 0 for n in ("RtmpB", "SrtB"))

        wait_until(fed, 30, "media at both Flow B inputs")
        self.players = {
            "rtmp": Player(self.ffmpeg, emu.url("RtmpB", "Out")),
            "srt": Player(self.ffmpeg, emu.url("SrtB", "Out")),
        }
        wait_until(self.delivering, 40, "both players receiving at the source's frame rate")

    def delivering(self, window_s: float = 3.0) -> bool:
        now = time.monotonic()
        return bool(self.players) and all(
            p.rate(now - window_s, now) >= FPS * (1 - RATE_TOLERANCE) for p in self.players.values()
        )

    def healthy(self) -> bool:
        if self.emu is None or not self.emu.alive or not all(p.alive for p in self.players.values()):
            return False
        if any(p.poll() is not None for p in self.publishers):
            return False
        try:
            if self.emu.http("GET", "/_emulator/health", timeout=5).status != 200:
                return False
        except OSError:
            return False
        with contextlib.suppress(AssertionError):
            wait_until(self.delivering, 10, "delivery")
            return True
        return False

    def ensure(self) -> Stack:
        """This stack, delivering; rebuilt first when an earlier attack left it dead or stalled."""
        if not self.healthy():
            self.stop()
            self.start()
        return self

    def stop(self) -> None:
        for p in self.players.values():
            p.stop()
        self.players = {}
        stop_all(*self.publishers)
        self.publishers = []
        if self.monitor is not None:
            self.monitor.stop()
        if self.health is not None:
            self.health.stop()
        if self.emu is not None:
            self.emu.stop()


# -- the judge -----------------------------------------------------------------------------------------
@dataclass
class Judgement:
    """What one attack did to the emulator (printed, then asserted)."""

    name: str
    attack_s: float = 0.0
    rates_after: dict[str, float] = field(default_factory=dict)
    rates_before: dict[str, float] = field(default_factory=dict)
    """Each player's frame rate over the baseline window: the reference of ``rates_after``."""
    stalls: dict[str, float] = field(default_factory=dict)
    health_p50_ms: float = 0.0
    health_p90_ms: float = 0.0
    health_time_p90_ms: float = 0.0
    """The p90 weighted by time (see :func:`time_quantile`): reported, not asserted."""
    health_max_ms: float = 0.0
    health_before_p90_ms: float = 0.0
    """``/_emulator/health`` p90 over the baseline window: ``health_p90_ms`` may exceed it by
    :data:`HEALTH_P90_S`."""
    health_failures: int = 0
    health_samples: int = 0
    rss_base_mib: float = 0.0
    rss_peak_mib: float = 0.0
    rss_end_mib: float = 0.0
    fds_base: int = 0
    fds_peak: int = 0
    fds_end: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        rates = ", ".join(
            f"{k} {v:.1f} fps (before {self.rates_before.get(k, float('nan')):.1f})"
            for k, v in self.rates_after.items()
        )
        stalls = ", ".join(f"{k} {v:.2f} s" for k, v in self.stalls.items())
        return (
            f"[{self.name}] attack {self.attack_s:.1f} s; after: {rates}; longest stall: {stalls}; "
            f"health p50/p90/max {self.health_p50_ms:.0f}/{self.health_p90_ms:.0f}/"
            f"{self.health_max_ms:.0f} ms over {self.health_samples} ({self.health_failures} failed, "
            f"time-weighted p90 {self.health_time_p90_ms:.0f} ms; "
            f"p90 before {self.health_before_p90_ms:.0f} ms); "
            f"RSS {self.rss_base_mib:.0f} -> peak {self.rss_peak_mib:.0f} -> {self.rss_end_mib:.0f} MiB; "
            f"fds {self.fds_base} -> peak {self.fds_peak} -> {self.fds_end}"
            + (f"; {self.extra}" if self.extra else "")
        )

    def failures(self) -> list[str]:
        out = []
        for name, rate in self.rates_after.items():
            # The reference: the source's rate, or what this player got just before the attack when the
            # machine held it lower; a catch-up burst above the source is not damage.
            reference = min(float(FPS), self.rates_before.get(name, float(FPS)))
            if rate < reference * (1 - RATE_TOLERANCE):
                out.append(
                    f"{name} player at {rate:.1f} fps after the attack "
                    f"(source {FPS}, {self.rates_before.get(name, float('nan')):.1f} just before)"
                )
        for name, stall in self.stalls.items():
            if stall > MAX_STALL_S:
                out.append(f"{name} player stalled {stall:.2f} s")
        health_limit_ms = self.health_before_p90_ms + HEALTH_P90_S * 1000
        if self.health_p90_ms > health_limit_ms:
            out.append(
                f"health p90 {self.health_p90_ms:.0f} ms > {health_limit_ms:.0f} ms "
                f"({self.health_before_p90_ms:.0f} ms just before + {HEALTH_P90_S * 1000:.0f} ms)"
            )
        if self.health_failures:
            out.append(f"{self.health_failures} health requests got no answer (5 s timeout) or not 200")
        if self.rss_peak_mib > self.rss_base_mib + RSS_GROWTH_MIB:
            out.append(f"RSS peaked {self.rss_peak_mib - self.rss_base_mib:.0f} MiB above the baseline")
        if self.rss_end_mib > self.rss_base_mib + RSS_RETURN_MIB:
            out.append(f"RSS stayed {self.rss_end_mib - self.rss_base_mib:.0f} MiB above the baseline")
        if self.fds_end > self.fds_base + FD_SLACK:
            out.append(f"{self.fds_end - self.fds_base} file descriptors not returned")
        return out


def judge(stack: Stack, name: str, attack: Callable[[Judgement], None]) -> Judgement:
    """Run ``attack`` (which returns once the attacker closed) against the flowing stack, measure as the
    module docstring says, print the figures and return them; the caller asserts ``failures()`` (and
    its own attack-specific checks) so every figure is printed even when one fails."""
    emu = stack.e
    assert stack.health is not None and stack.monitor is not None
    verdict = Judgement(name)
    verdict.rss_base_mib = emu.rss_mib()
    verdict.fds_base = emu.fds()
    t0 = time.monotonic()
    for key, player in stack.players.items():
        verdict.rates_before[key] = player.rate(max(t0 - BEFORE_WINDOW_S, player.started + 1.0), t0)
    before = sorted(d if s else max(d, 5.0) for d, s in stack.health.window(t0 - BEFORE_WINDOW_S, t0))
    if before:
        verdict.health_before_p90_ms = _quantile(before, 0.9) * 1000
    try:
        attack(verdict)
    finally:
        t1 = time.monotonic()
        verdict.attack_s = t1 - t0
        span_end = max(t1, t0 + MIN_ATTACK_WINDOW_S)
        after0 = span_end + SETTLE_S
        after1 = after0 + AFTER_WINDOW_S
        _sleep_until(after1 + 0.5)
        for key, player in stack.players.items():
            verdict.rates_after[key] = player.rate(after0, after1)
            verdict.stalls[key] = player.max_stall(t0, after0)
        samples = stack.health.window(t0, span_end)
        lat = sorted(d if s else max(d, 5.0) for d, s in samples)
        verdict.health_samples = len(lat)
        verdict.health_failures = sum(1 for _, s in samples if s != 200)
        if lat:
            verdict.health_p50_ms = lat[len(lat) // 2] * 1000
            verdict.health_p90_ms = _quantile(lat, 0.9) * 1000
            verdict.health_time_p90_ms = time_quantile(lat, 0.9) * 1000
            verdict.health_max_ms = lat[-1] * 1000
        else:  # not one answer: frozen the whole time
            verdict.health_p50_ms = verdict.health_p90_ms = verdict.health_max_ms = float("inf")
            verdict.health_time_p90_ms = float("inf")
        verdict.rss_peak_mib = stack.monitor.peak_rss(t0, after1)
        verdict.fds_peak = max((f for t, _, f in list(stack.monitor.samples) if t >= t0), default=0)
        if emu.alive:
            base_rss, base_fds = verdict.rss_base_mib, verdict.fds_base
            with contextlib.suppress(AssertionError, OSError):
                wait_until(lambda: emu.fds() <= base_fds + FD_SLACK, RETURN_TIMEOUT_S, "fds", every=0.2)
            with contextlib.suppress(AssertionError, OSError):
                wait_until(
                    lambda: emu.rss_mib() <= base_rss + RSS_RETURN_MIB, RETURN_TIMEOUT_S, "RSS", every=0.2
                )
            verdict.rss_end_mib = emu.rss_mib()
            verdict.fds_end = emu.fds()
        else:
            verdict.extra["emulator"] = f"died (exit {emu.proc.returncode})"
            verdict.rss_end_mib = verdict.fds_end = -1
        print(verdict.line(), flush=True)
    return verdict


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def time_quantile(latencies: list[float], q: float) -> float:
    """The latency a request sent at a random moment of the window would have seen (quantile ``q``):
    each sample weighs the time it covered (its latency plus the sampler's 50 ms pause), so one 5 s
    timeout during a freeze outweighs the hundred quick answers a healthy server gives in that time."""
    weights = [d + 0.05 for d in latencies]
    target = q * sum(weights)
    acc = 0.0
    for d, w in zip(latencies, weights, strict=True):
        acc += w
        if acc >= target:
            return d
    return latencies[-1]


def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def assert_judged(verdict: Judgement, *more: str) -> None:
    problems = verdict.failures() + [m for m in more if m]
    if "emulator" in verdict.extra:
        problems.append(f"the emulator {verdict.extra['emulator']}")
    assert not problems, f"{verdict.line()}\n" + "\n".join(problems)


# -- a raw SRT caller ------------------------------------------------------------------------------------
class RawSrtCaller:
    """The sans-IO :class:`SrtConnection` as a caller on a blocking UDP socket, pumped by a thread: a
    real SRT peer (it ACKs, keeps alive, answers KM) that can also put any bytes on its socket, e.g.
    a forged NAK addressed to the listener-side socket id it learnt in the handshake."""

    def __init__(self, host: str, port: int, *, config: SrtConfig | None = None, seed: int = 8) -> None:
        self.peer = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.005)
        self._lock = threading.Lock()
        self.conn = SrtConnection(
            config=config or SrtConfig(), rng=random.Random(seed), peer_addr=self.peer, now=time.monotonic()
        )
        self.highest_seq = -1
        """Highest data sequence number seen on the wire (a player's view of the sender's position)."""
        self.payloads = 0
        self.closed_reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raw-srt", daemon=True)

    def connect(self, timeout: float = 10.0) -> RawSrtCaller:
        with self._lock:
            self.conn.connect(time.monotonic())
            self._flush(time.monotonic())
        self._thread.start()
        wait_until(
            lambda: self.conn.connected or self.conn.closed, timeout, f"SRT handshake with {self.peer}"
        )
        assert self.conn.connected, f"SRT caller to {self.peer}: {self.conn.close_reason}"
        return self

    @property
    def peer_socket_id(self) -> int:
        return self.conn.peer_socket_id

    def _flush(self, now: float) -> None:
        for wire in self.conn.datagrams_to_send(now):
            with contextlib.suppress(OSError):
                self.sock.sendto(wire, self.peer)

    def _run(self) -> None:
        while not self._stop.is_set():
            data: bytes | None
            try:
                data, addr = self.sock.recvfrom(65536)
            except TimeoutError:
                data = None
            except OSError:
                return
            now = time.monotonic()
            with self._lock:
                if data is not None:
                    if not data[0] & 0x80 and len(data) >= 16:
                        seq = int.from_bytes(data[:4], "big") & SEQ_MASK
                        if self.highest_seq < 0 or seq_diff(seq, self.highest_seq) > 0:
                            self.highest_seq = seq
                    self.conn.receive_datagram(data, (addr[0], addr[1]), now)
                timer = self.conn.get_timer()
                if timer is not None and now >= timer:
                    self.conn.handle_timer(now)
                while (ev := self.conn.next_event()) is not None:
                    if isinstance(ev, PayloadReceived):
                        self.payloads += 1
                    elif isinstance(ev, ConnectionClosed):
                        self.closed_reason = ev.reason
                self._flush(now)

    def send(self, payload: bytes) -> None:
        """One data packet (our publisher side)."""
        with self._lock:
            now = time.monotonic()
            self.conn.send(payload, now)
            self._flush(now)

    @property
    def next_seq(self) -> int:
        """The sequence number our next data packet gets."""
        return self.conn.sender.buffer.next_seq

    def inject(self, wire: bytes) -> None:
        """Put forged bytes on this connection's socket (same address and port as the real peer)."""
        self.sock.sendto(wire, self.peer)

    def close(self) -> None:
        with self._lock:
            now = time.monotonic()
            self.conn.close(now, "attack over")
            self._flush(now)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.sock.close()


def ts_payload(counter: int) -> bytes:
    """1316 bytes of MPEG-TS: seven null packets (PID 0x1FFF) with a running continuity counter."""
    return b"".join(bytes([0x47, 0x1F, 0xFF, 0x10 | ((counter + i) & 0xF)]) + b"\xff" * 184 for i in range(7))


def induction_packet(host: str, port: int) -> bytes:
    """A caller's first handshake (induction request), as our own caller core writes it."""
    conn = SrtConnection(config=SrtConfig(), rng=random.Random(1), peer_addr=(host, port), now=0.0)
    conn.connect(0.0)
    return conn.datagrams_to_send(0.0)[0]


def conclusion_templates(
    host: str, port: int, count: int, passphrase: str
) -> list[tuple[socket.socket, Handshake]]:
    """``count`` UDP sockets, each having done a real induction with the listener, and the conclusion
    (with a KMREQ wrapped by ``passphrase``) each would send next: a forger replays them with fresh
    socket ids, each with a valid SYN cookie for its source address."""
    out = []
    for i in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        conn = SrtConnection(
            config=SrtConfig(passphrase=passphrase),
            rng=random.Random(100 + i),
            peer_addr=(host, port),
            now=0.0,
        )
        conn.connect(0.0)
        for wire in conn.datagrams_to_send(0.0):
            sock.sendto(wire, (host, port))
        data, addr = sock.recvfrom(65536)
        conn.receive_datagram(data, (addr[0], addr[1]), 0.001)
        wires = conn.datagrams_to_send(0.001)
        assert wires, f"no conclusion after the induction: {conn.close_reason}"
        out.append((sock, parse_handshake(wires[0])))
    return out


def forged_conclusions(template: Handshake, count: int, rng: random.Random) -> list[bytes]:
    return [dataclasses.replace(template, socket_id=rng.randrange(1, 1 << 31)).encode() for _ in range(count)]


def udp_flood(
    socks: list[socket.socket],
    target: tuple[str, int],
    wires: list[list[bytes]],
    rate_pps: float,
    seconds: float,
) -> int:
    """Send at ``rate_pps`` in total for ``seconds``, round robin over the sockets, each cycling through
    its own list of datagrams. Returns how many were sent."""
    sent = 0
    start = time.monotonic()
    cursors = [0] * len(socks)
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            return sent
        due = int(rate_pps * elapsed) - sent
        for _ in range(max(0, due)):
            k = sent % len(socks)
            batch = wires[k]
            with contextlib.suppress(OSError):
                socks[k].sendto(batch[cursors[k] % len(batch)], target)
            cursors[k] += 1
            sent += 1
        time.sleep(0.002)


# -- a raw RTMP peer ---------------------------------------------------------------------------------------
class RawRtmp:
    """A TCP connection to an RTMP server that completes the handshake (our client core) and then sends
    whatever an attack wants. ``closed_by_server()`` tells whether the server hung up."""

    def __init__(self, host: str, port: int, *, seed: int = 0) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.seed = seed
        self.sent = 0
        self.closed_at: float | None = None
        self.stalled = False
        """A send blocked for the socket timeout: the server stopped reading without closing."""

    def handshake(self) -> RawRtmp:
        hs = ClientHandshake(random.Random(self.seed))
        self.sock.sendall(hs.initiate())
        while not hs.done:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("the RTMP server closed during the handshake")
            c2 = hs.receive_data(data)
            if c2:
                self.sock.sendall(c2)
        return self

    def send(self, data: bytes) -> bool:
        """Send; False (and the close time noted) once the server has closed or reset the connection."""
        if self.closed_at is not None:
            return False
        try:
            self.sock.sendall(data)
        except TimeoutError:
            self.stalled = True
            return False
        except OSError:
            self.closed_at = time.monotonic()
            return False
        self.sent += len(data)
        return True

    def closed_by_server(self) -> bool:
        if self.closed_at is not None:
            return True
        self.sock.setblocking(False)
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        finally:
            with contextlib.suppress(OSError):
                self.sock.settimeout(10)
        if data:
            return False  # the server said something (an error message?): still open
        self.closed_at = time.monotonic()
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
