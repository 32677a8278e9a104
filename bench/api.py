"""Benchmark: control-plane operations per second through the official SDK, ``mcemu up`` time to the
first accepted publish, and the start time of a fresh in-process emulator (the pytest fixture).

1. Operations: an :class:`~emulator.testing.EmulatorThread` (in-process, own loop and thread), driven by
   the official SDK (``alibabacloud_ice20201109``, V3 signatures) from this thread. For ``--flows`` flows
   each of create / add input (RTMP-PUSH) / add output (RTMP-PULL) / start (online) / stop (offline) /
   delete runs as one batch; printed as operations per second and as a ratio to the reference: the
   SDK's cheapest call, GetMediaConnectAvailableRegion (signing, HTTP, routing; no flow state), timed in
   the same run.
2. ``mcemu up``: the installed console script as a subprocess with the built-in default topology on
   ephemeral ports (a temporary topology file: DEFAULT_TOPOLOGY + rtmp/srt ports 0; ``--api-port`` a
   free port). Timed from ``Popen`` to (a) the "mcemu is up" line, (b) the first RTMP publish our own
   RtmpPusher gets accepted (``onStatus NetStream.Publish.Start``) at the DemoRtmpAInput URL it printed.
   Median of ``--up-runs``. Target: under 1 s to ready.
3. Fixture start: ``EmulatorThread()`` start (eight region RTMP servers, the API), and its stop, median of
   ``--fixture-runs`` (20). Target: start under 0.2 s.

    python bench/api.py [--flows 100] [--up-runs 5] [--fixture-runs 20]
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
from collections.abc import Callable
from typing import Any

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

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
        rows = [
            timed("reference GetMediaConnectAvailableRegion", flows, reference),
            timed("CreateMediaConnectFlow", flows, create),
            timed("AddMediaConnectFlowInput (RTMP-PUSH)", flows, add_input),
            timed("AddMediaConnectFlowOutput (RTMP-PULL)", flows, add_output),
            timed("UpdateMediaConnectFlowStatus online", flows, status("online")),
            timed("UpdateMediaConnectFlowStatus offline", flows, status("offline")),
            timed("DeleteMediaConnectFlow", flows, delete),
        ]
    ref_rate = rows[0][1] / rows[0][2]
    print(f"1. operations through the official SDK, {flows} flows, in-process EmulatorThread")
    print(f"   {'operation':<42} {'ops/s':>8} {'ms/op':>7} {'vs reference':>13}")
    for label, n, secs in rows:
        rate = n / secs
        print(f"   {label:<42} {rate:8.0f} {secs / n * 1000:7.2f} {rate / ref_rate:12.2f}x")


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


def one_up_run(topology_path: str) -> tuple[float, float, float]:
    """(s to the "is up" line, s to the accepted publish, the figure mcemu printed itself)."""
    port = free_port()
    cmd = [MCEMU, "--log-level", "WARNING", "up", "--topology", topology_path, "--api-port", str(port)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        up_at = own = 0.0
        push_url = ""
        for line in proc.stdout:
            found = re.search(r"mcemu is up in ([\d.]+) s", line)
            if found:
                up_at, own = time.monotonic(), float(found.group(1))
            found = re.search(r"push to DemoRtmpAInput\s+(rtmp://\S+)", line)
            if found:
                push_url = found.group(1)
                break
        if not push_url:
            raise RuntimeError(f"mcemu up printed no push URL: {proc.stderr.read() if proc.stderr else ''}")
        accepted = asyncio.run(publish_until_accepted(push_url, 10.0))
        return up_at - start, accepted - start, own
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def bench_mcemu_up(runs: int) -> None:
    doc = {**DEFAULT_TOPOLOGY, **TEST_PORTS}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(doc, f)
        path = f.name
    try:
        results = [one_up_run(path) for _ in range(runs)]
    finally:
        os.unlink(path)
    up = statistics.median(r[0] for r in results)
    pub = statistics.median(r[1] for r in results)
    own = statistics.median(r[2] for r in results)
    print(f"2. mcemu up (subprocess, default topology on ephemeral ports), median of {runs}")
    verdict = "met" if pub < 1 else "MISSED"
    print(f"   launch -> 'mcemu is up' line:          {up:6.3f} s   (mcemu's own figure: {own:.3f} s)")
    print(f"   launch -> first accepted RTMP publish: {pub:6.3f} s   (target < 1 s: {verdict})")


# -- 3. fixture start -----------------------------------------------------------------------------
def bench_fixture(runs: int) -> None:
    with EmulatorThread():  # first-time costs (imports, aiohttp setup) out of the figure
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
    print(f"3. EmulatorThread (the mcemu fixture), default regions on ephemeral ports, median of {runs}")
    verdict = "met" if start < 0.2 else "MISSED"
    print(f"   start: {start * 1000:7.1f} ms (max {max(starts) * 1000:.1f})   target < 200 ms: {verdict}")
    print(f"   stop:  {stop * 1000:7.1f} ms (max {max(stops) * 1000:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--flows", type=int, default=100)
    parser.add_argument("--up-runs", type=int, default=5)
    parser.add_argument("--fixture-runs", type=int, default=20)
    args = parser.parse_args()
    bench_operations(args.flows)
    bench_mcemu_up(args.up_runs)
    bench_fixture(args.fixture_runs)


if __name__ == "__main__":
    main()
