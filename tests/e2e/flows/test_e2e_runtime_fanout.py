"""One Flow A in Singapore fanned out to Flow Bs in three regions, each across its own backbone link.

Built through the official SDK; a real ffmpeg publishes 25 fps H.264 + AAC into Flow A, real ffmpeg
receivers play Flow A's observer output and every Flow B's output. Each B must decode every frame sent,
starting on a keyframe, and lag A by at least its region pair's one-way latency, the three lags ordered as
the latencies are.
"""

from __future__ import annotations

from typing import Any

from e2e_peers import FPS, Receiver, decode, median_lag_ms, publisher
from e2e_runtime_kit import Sdk, stop_all, wait_players

from emulator.testing import EmulatorThread

SECONDS = 4
SENT_FRAMES = SECONDS * FPS
A_REGION = "ap-southeast-1"
ONE_WAY_MS = {"cn-beijing": 40.0, "eu-central-1": 150.0, "us-west-1": 300.0}
"""Set in the topology (the catalogue's 45 / 80 / 85 ms are too close to order reliably)."""


def test_fanout_to_three_regions(ffmpeg_exe: str, tmp_path: Any) -> None:
    topology = {"latency_ms": {f"{A_REGION}/{region}": ms for region, ms in ONE_WAY_MS.items()}}
    with EmulatorThread(topology) as emu:
        api = Sdk(emu)
        a = api.flow("FanA", A_REGION)
        push_url = api.input(a, "In", "RTMP-PUSH")
        urls = {"A": api.output(a, "Observer", "RTMP-PULL")}
        flows = {"A": a}
        for region in ONE_WAY_MS:
            api.output(a, f"To-{region}", "RTMP-PULL")
            b = api.flow(f"FanB-{region}", region)
            api.input(b, "FromA", "Flow", pair_flow_id=a, pair_output_name=f"To-{region}")
            urls[region] = api.output(b, "Out", "RTMP-PULL")
            flows[region] = b
        for fid in flows.values():
            api.status(fid, "online")
        # The B flows' backbone pullers are players of A's To-* outputs.
        wait_players(emu, {(a, f"To-{r}"): 1 for r in ONE_WAY_MS})
        receivers = {name: Receiver(ffmpeg_exe, url) for name, url in urls.items()}
        wait_players(emu, {(a, "Observer"): 1} | {(flows[r], "Out"): 1 for r in ONE_WAY_MS})
        pub = publisher(ffmpeg_exe, push_url, SECONDS)
        try:
            _, err = pub.communicate(timeout=SECONDS + 30)
            assert pub.returncode == 0, err.decode(errors="replace")
            got = {
                name: rx.stop(settle_s=1.0 + max(ONE_WAY_MS.values()) / 1000)
                for name, rx in receivers.items()
            }
        finally:
            stop_all(pub, *(rx.proc for rx in receivers.values()))
        for fid in flows.values():
            api.status(fid, "offline")

    lags = {}
    for region, one_way in ONE_WAY_MS.items():
        rx = got[region]
        d = decode(rx.data, str(tmp_path), region)
        where = f"Flow B in {region} ({rx.stderr.strip()[-300:]})"
        assert d.error == "", f"{where}: {d.error}"
        assert d.errors == 0, f"{where}: {d.errors} decode errors"
        assert d.keyframe_first, f"{where}: does not start on a keyframe"
        assert d.frames == SENT_FRAMES, f"{where}: {d.frames} frames decoded, {SENT_FRAMES} sent"
        lag, common = median_lag_ms(got["A"].arrivals, rx.arrivals)
        assert common >= SENT_FRAMES * 0.6, f"{where}: only {common} frames seen at both A and B"
        # Every byte crossed the link: a lower bound (less the players' noise), never an upper one.
        assert lag >= one_way - 5, f"{where}: lags A by {lag:.0f} ms, one way is {one_way}"
        lags[region] = lag
    order = sorted(lags, key=lags.__getitem__)
    assert order == sorted(ONE_WAY_MS, key=ONE_WAY_MS.__getitem__), f"lags {lags} not ordered as {ONE_WAY_MS}"
