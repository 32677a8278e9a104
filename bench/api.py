"""Benchmark: control-plane operations per second through the official SDK, ``mcemu up`` time to
ready (imports included), and the first use of the ``mcemu_sdk`` fixture in a fresh interpreter.

1. Operations: an :class:`~emulator.testing.EmulatorThread` (in-process, own loop and thread), driven by
   the official SDK (``alibabacloud_ice20201109``, V3 signatures) from this thread. For ``--flows`` flows
   each of create / add input (RTMP-PUSH) / add output (RTMP-PULL) / start (online) / stop (offline) /
   delete runs as one batch, right after a batch of the reference: the SDK's cheapest call,
   GetMediaConnectAvailableRegion (signing, HTTP, routing; no flow state). Printed as operations per
   second and as a ratio to the reference batch just before it (A B A B).
2. ``mcemu up``: the installed console script as a subprocess with the built-in default topology on
   ephemeral ports (a temporary topology file: DEFAULT_TOPOLOGY + rtmp/srt ports 0; ``--api-port`` a
   free port). Timed from ``Popen``, so the interpreter's start and every import count, to (a) the first
   answer of ``/_emulator/health``, (b) the banner's last line ("Ctrl-C to stop."), (c) the first RTMP
   publish our own RtmpPusher gets accepted (``onStatus NetStream.Publish.Start``) at the DemoRtmpAInput
   URL it printed.
   The reference, run before each: ``python -c pass``. Median of ``--up-runs``. Target (issue 9):
   ready in under 0.5 s, imports included. mcemu's own banner figure leaves the imports out.
3. Fixture: a fresh interpreter imports ``emulator.testing``, starts an EmulatorThread and makes the
   first SDK call (what a test using ``mcemu_sdk`` pays first), median of ``--first-use-runs``, each
   after a ``python -c pass``; target under 0.3 s (imports included: under pytest the plugin pays them
   when collection ends, before the first test, and the line after says what a test's setup pays).
4. This process's warmed EmulatorThread start/stop, median of ``--fixture-runs``.

    python bench/api.py [--flows 100] [--up-runs 5] [--first-use-runs 5] [--fixture-runs 20]
    python bench/api.py --startup-only   # 2. and 3. (the operations take minutes)

2. and 3. run twice, with the bytecode cache set explicitly (whatever this shell has):
- cached: what a user of ``pip install .`` gets (pip byte-compiles what it installs). The subprocesses
  keep their ``.pyc`` under a temporary ``PYTHONPYCACHEPREFIX``, filled by one untimed run first. The
  targets are judged here.
- uncached: ``PYTHONDONTWRITEBYTECODE=1`` and an empty ``PYTHONPYCACHEPREFIX``, so every module, the
  standard library's included, is compiled from source at each start: the worst case, above what an
  editable install under ``PYTHONDONTWRITEBYTECODE=1`` (as in CI) pays, where only the project is.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import yaml
from alibabacloud_ice20201109 import models

from emulator.testing import TEST_PORTS, EmulatorThread
from emulator.topology import DEFAULT_TOPOLOGY
from mediaplane.relay import Hub, HubUnit, UnitKind
from mediaplane.rtmp import RtmpClientConfig, RtmpPusher
from mediaplane.rtmp.synthetic import synthetic_stream

MCEMU = os.path.join(os.path.dirname(sys.executable), "mcemu")


# -- 1. operations per second ---------------------------------------------------------------------
def timed(label: str, n: int, fn: Callable[[int], Any]) -> tuple[str, int, float]:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return label, n, time.perf_counter() - start


def bench_operations(flows: int) -> None:
    with EmulatorThread() as emu:
        c = emu.sdk_client()
        ids: list[str] = []

        def create(i: int) -> None:
            req = models.CreateMediaConnectFlowRequest(flow_name=f"Bench{i}", flow_region="ap-southeast-1")
            ids.append(c.create_media_connect_flow(req).body.content.flow_id)

        def add_input(i: int) -> None:
            req = models.AddMediaConnectFlowInputRequest(
                flow_id=ids[i], input_name="In", input_protocol="RTMP-PUSH"
            )
            c.add_media_connect_flow_input(req)

        def add_output(i: int) -> None:
            req = models.AddMediaConnectFlowOutputRequest(
                flow_id=ids[i], output_name="Out", output_protocol="RTMP-PULL"
            )
            c.add_media_connect_flow_output(req)

        def status(value: str) -> Callable[[int], None]:
            def run(i: int) -> None:
                req = models.UpdateMediaConnectFlowStatusRequest(flow_id=ids[i], status=value)
                c.update_media_connect_flow_status(req)

            return run

        def delete(i: int) -> None:
            c.delete_media_connect_flow(models.DeleteMediaConnectFlowRequest(flow_id=ids[i]))

        def reference(i: int) -> None:
            c.get_media_connect_available_region()

        reference(0)  # connection set up, SDK warmed
        ops = [
            ("CreateMediaConnectFlow", create),
            ("AddMediaConnectFlowInput (RTMP-PUSH)", add_input),
            ("AddMediaConnectFlowOutput (RTMP-PULL)", add_output),
            ("UpdateMediaConnectFlowStatus online", status("online")),
            ("UpdateMediaConnectFlowStatus offline", status("offline")),
            ("DeleteMediaConnectFlow", delete),
        ]
        # A B A B: a reference batch right before each operation's batch, each ratio against its own.
        rows = [(timed("reference", flows, reference), timed(label, flows, fn)) for label, fn in ops]
    print(f"1. operations through the official SDK, {flows} flows, in-process EmulatorThread; reference:")
    print("   GetMediaConnectAvailableRegion (signing, HTTP, routing; no flow state), timed just before each")
    print(f"   {'operation':<42} {'ops/s':>8} {'ms/op':>7} {'ref ops/s':>9} {'vs reference':>13}")
    for (_, rn, rsecs), (label, n, secs) in rows:
        rate, ref_rate = n / secs, rn / rsecs
        print(f"   {label:<42} {rate:8.0f} {secs / n * 1000:7.2f} {ref_rate:9.0f} {rate / ref_rate:12.2f}x")


# -- 2. mcemu up to the first accepted publish ----------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def publish_until_accepted(url: str, timeout_s: float) -> float:
    """Publish with our RtmpPusher until the server accepts; returns the monotonic time it did."""
    hub = Hub("bench", cache_gop=True)
    owner = object()
    hub.claim(owner)
    for msg in list(_first_messages()):
        hub.feed(
            HubUnit(kind=UnitKind(msg.kind), timestamp_ms=msg.timestamp, size=len(msg.payload), payload=msg)
        )
    config = RtmpClientConfig(backoff_initial_s=0.02, backoff_max_s=0.05, connect_timeout_s=2.0)
    pusher = RtmpPusher(url, hub, config=config)
    await pusher.start()
    try:
        deadline = time.monotonic() + timeout_s
        while pusher.sessions_started == 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"publish to {url} not accepted in {timeout_s} s: {pusher.last_error}")
            await asyncio.sleep(0.002)
        return time.monotonic()
    finally:
        await pusher.close()


def _first_messages() -> Any:
    stream = synthetic_stream(bitrate_bps=500_000)
    for _ in range(5):
        yield next(stream)


def health_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/health", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def bytecode_envs(tmp: str) -> list[tuple[str, dict[str, str]]]:
    """The two bytecode-cache settings the startup figures are measured under (see the docstring)."""
    base = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    cached = {**base, "PYTHONPYCACHEPREFIX": os.path.join(tmp, "cached")}
    uncached = {**base, "PYTHONPYCACHEPREFIX": os.path.join(tmp, "empty"), "PYTHONDONTWRITEBYTECODE": "1"}
    return [
        ("cached (an installed package: .pyc present)", cached),
        ("uncached (every module compiled)", uncached),
    ]


def interpreter_start(env: dict[str, str]) -> float:
    """Seconds from Popen to the exit of ``python -c pass``: the floor under any Python command."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
    return time.monotonic() - start


def one_up_run(topology_path: str, env: dict[str, str]) -> tuple[float, float, float, float]:
    """Seconds from Popen (interpreter start and imports included) to (the banner's last line, "Ctrl-C
    to stop.", the first answer of /_emulator/health, the first accepted publish), and the figure mcemu
    printed."""
    port = free_port()
    cmd = [MCEMU, "--log-level", "WARNING", "up", "--topology", topology_path, "--api-port", str(port)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        healthy = 0.0
        while not healthy:
            if health_answers(port):
                healthy = time.monotonic()
            elif proc.poll() is not None:
                raise RuntimeError(f"mcemu up exited: {proc.stderr.read() if proc.stderr else ''}")
            elif time.monotonic() - start > 30:
                raise RuntimeError("mcemu up: /_emulator/health did not answer in 30 s")
            else:
                time.sleep(0.002)
        assert proc.stdout is not None
        up_at = own = 0.0
        push_url = ""
        for line in proc.stdout:
            found = re.search(r"is up in ([\d.]+) s", line)
            if found:
                own = float(found.group(1))
            found = re.search(r"push to DemoRtmpAInput\s+(rtmp://\S+)", line)
            if found:
                push_url = found.group(1)
            if "Ctrl-C to stop." in line:
                up_at = time.monotonic()
                break
        if not push_url or not up_at:
            raise RuntimeError(f"mcemu up printed no push URL: {proc.stderr.read() if proc.stderr else ''}")
        accepted = asyncio.run(publish_until_accepted(push_url, 10.0))
        # The banner is read after health answered: its time is when we read it, at most this late.
        return max(up_at, healthy) - start, healthy - start, accepted - start, own
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def bench_mcemu_up(runs: int, label: str, env: dict[str, str]) -> None:
    doc = {**DEFAULT_TOPOLOGY, **TEST_PORTS}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(doc, f)
        path = f.name
    results, floors = [], []
    try:
        one_up_run(path, env)  # untimed: fills the cache of the cached setting
        for _ in range(runs):  # A B A B: the bare interpreter, then mcemu up
            floors.append(interpreter_start(env))
            results.append(one_up_run(path, env))
    finally:
        os.unlink(path)
    up = statistics.median(r[0] for r in results)
    health = statistics.median(r[1] for r in results)
    pub = statistics.median(r[2] for r in results)
    own = statistics.median(r[3] for r in results)
    floor = statistics.median(floors)
    print(
        f"2. mcemu up (subprocess, default topology on ephemeral ports), median of {runs}, timed from Popen"
    )
    print("   (interpreter start and imports included); reference: `python -c pass`, run before each")
    print(f"   bytecode: {label}")
    verdict = (
        ("met" if max(health, up) < 0.5 else "MISSED") if env.get("PYTHONDONTWRITEBYTECODE") != "1" else "-"
    )
    print(f"   python -c pass (the floor):            {floor:6.3f} s")
    print(
        f"   launch -> /_emulator/health answers:   {health:6.3f} s   = {health / floor:.1f}x the floor   "
        f"(target < 0.5 s: {verdict})"
    )
    print(
        f"   launch -> 'Ctrl-C to stop.' read:      {up:6.3f} s   "
        f"(mcemu's own figure, after imports: {own:.3f} s)"
    )
    print(f"   launch -> first accepted RTMP publish: {pub:6.3f} s")
    print(f"   every run, health: {', '.join(f'{r[1]:.3f}' for r in results)} s")
    print(f"   every run, banner: {', '.join(f'{r[0]:.3f}' for r in results)} s")


FIRST_USE = """
import time
t0 = time.perf_counter()
from emulator.testing import EmulatorThread
t1 = time.perf_counter()
emu = EmulatorThread()
emu.start()
t2 = time.perf_counter()
client = emu.sdk_client()
t3 = time.perf_counter()
client.get_media_connect_available_region()
t4 = time.perf_counter()
emu.stop()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""


def first_use(env: dict[str, str]) -> tuple[float, float, float, float, float]:
    """A fresh interpreter's first use of the ``mcemu_sdk`` fixture: (Popen to exit, the import of
    emulator.testing, EmulatorThread start, the SDK client (its imports), its first call)."""
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", FIRST_USE], check=True, capture_output=True, text=True, env=env
    )
    total = time.monotonic() - start
    imports, started, client, first = (float(x) for x in out.stdout.split())
    return total, imports, started, client, first


# -- 3. fixture start -----------------------------------------------------------------------------
def bench_first_use(first_runs: int, label: str, env: dict[str, str]) -> None:
    floors, firsts = [], []
    first_use(env)  # untimed: fills the cache of the cached setting
    for _ in range(first_runs):  # A B A B: the bare interpreter, then a fresh process's first use
        floors.append(interpreter_start(env))
        firsts.append(first_use(env))
    floor = statistics.median(floors)
    total = statistics.median(f[0] for f in firsts)
    imports = statistics.median(f[1] for f in firsts)
    started = statistics.median(f[2] for f in firsts)
    client = statistics.median(f[3] for f in firsts)
    first = statistics.median(f[4] for f in firsts)
    use = imports + started + client + first
    print(f"3. the mcemu_sdk fixture's first use in a fresh interpreter, median of {first_runs}")
    print(f"   bytecode: {label}")
    verdict = ("met" if use < 0.3 else "MISSED") if env.get("PYTHONDONTWRITEBYTECODE") != "1" else "-"
    print(
        f"   import emulator.testing {imports * 1000:.1f} ms + EmulatorThread start {started * 1000:.1f} ms"
        f" + SDK client (its imports) {client * 1000:.1f} ms + first SDK call {first * 1000:.1f} ms"
    )
    print(f"   = {use * 1000:.1f} ms   (target < 300 ms: {verdict})")
    # Under pytest the plugin imports emulator.testing and the SDK once collection ends (when a collected
    # test uses the fixture), so a test's fixture setup pays the start and the first call only.
    request = started + first
    print(
        f"   under pytest, imports done when collection ended (fixture request -> first call): "
        f"{request * 1000:.1f} ms; the session pays the {(imports + client) * 1000:.0f} ms of imports once"
    )
    print(
        f"   whole process, Popen to exit: {total:.3f} s = {total / floor:.1f}x `python -c pass` "
        f"({floor:.3f} s)"
    )


def bench_fixture(runs: int) -> None:
    with EmulatorThread():  # this process's imports are done: what follows is the fixture's own work
        pass
    starts, stops = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        emu = EmulatorThread()
        emu.start()
        t1 = time.perf_counter()
        emu.stop()
        t2 = time.perf_counter()
        starts.append(t1 - t0)
        stops.append(t2 - t1)
    start, stop = statistics.median(starts), statistics.median(stops)
    print(
        f"4. EmulatorThread start/stop in this process (imports done), default regions on ephemeral ports, "
        f"median of {runs}"
    )
    print(f"   start: {start * 1000:7.1f} ms (max {max(starts) * 1000:.1f})")
    print(f"   stop:  {stop * 1000:7.1f} ms (max {max(stops) * 1000:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--flows", type=int, default=100)
    parser.add_argument("--up-runs", type=int, default=5)
    parser.add_argument("--fixture-runs", type=int, default=20)
    parser.add_argument("--first-use-runs", type=int, default=5)
    parser.add_argument("--startup-only", action="store_true", help="only 2. and 3. (mcemu up, fixture)")
    args = parser.parse_args()
    if not args.startup_only:
        bench_operations(args.flows)
    with tempfile.TemporaryDirectory(prefix="mcemu-bench-pyc-") as tmp:
        for label, env in bytecode_envs(tmp):
            bench_mcemu_up(args.up_runs, label, env)
            bench_first_use(args.first_use_runs, label, env)
    bench_fixture(args.fixture_runs)


if __name__ == "__main__":
    main()
