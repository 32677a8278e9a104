"""Last mile on an RTMP-PUSH input: a slow uplink from the encoder shows in the end-to-end delay.

Two flows side by side in one region, each RTMP-PUSH in, RTMP-PULL out. Flow A's input has a 150 ms
``to_region`` last-mile delay; our numbered test signal publishes to Flow A's *impaired URL* and, at the
same time, to Flow B's normal URL. The probe reads both outputs and reports each frame's end-to-end
delay (wall clock in the picture vs the probe's clock at decode): Flow A's median is at least 150 ms
and about 150 ms above Flow B's, which no impairment touches.
"""

from __future__ import annotations

import asyncio
import urllib.parse

from lastmile_kit import A_REGION, Sdk, admin, lastmile_row, snapshot, wait_until

from emulator.testing import EmulatorThread
from mediaplane.media.probe import probe
from mediaplane.media.signal import SignalConfig, publish

DELAY_MS = 150.0
SIGNAL = SignalConfig(width=320, height=240, video_bitrate_kbps=400, gop_frames=25)
SEND_S, PROBE_S = 7.0, 4.0


async def test_rtmp_push_input_to_region_delay_shows_in_end_to_end_delay() -> None:
    with EmulatorThread() as emu:
        sdk = Sdk(emu)
        a = sdk.flow("LastMileA", A_REGION)
        sdk.input(a, "In", "RTMP-PUSH")
        out_a = sdk.output(a, "Out", "RTMP-PULL")
        b = sdk.flow("LastMileB", A_REGION)
        in_b = sdk.input(b, "In", "RTMP-PUSH")
        out_b = sdk.output(b, "Out", "RTMP-PULL")
        status, row = admin(emu.api_url, "PUT", f"/_emulator/lastmile/{a}/input/In",
                            {"to_region": {"delay_ms": DELAY_MS}})  # fmt: skip
        assert status == 200, row
        assert row["impaired_url"] is None, "no link while the flow is offline"
        sdk.status(a, "online")
        sdk.status(b, "online")
        row = lastmile_row(emu.api_url, a, "input", "In")
        assert row is not None and row["impaired_url"], row
        impaired = str(row["impaired_url"])
        normal = urllib.parse.urlsplit(snapshot(emu)["regions"][A_REGION]["rtmp"])
        parts = urllib.parse.urlsplit(impaired)
        assert parts.hostname == normal.hostname and parts.port != normal.port
        assert row["to_region"]["delay_ms"] == DELAY_MS and row["from_region"] is None

        pubs = [
            asyncio.ensure_future(publish(impaired, SIGNAL, duration_s=SEND_S)),
            asyncio.ensure_future(publish(in_b, SIGNAL, duration_s=SEND_S)),
        ]

        def both_live() -> bool:
            flows = snapshot(emu)["live_flows"]
            return all(flows[f]["inputs"]["In"]["bytes_in"] for f in (a, b))

        await asyncio.to_thread(wait_until, both_live, 20, "media at both inputs")
        res_a, res_b = await asyncio.gather(probe(out_a, PROBE_S), probe(out_b, PROBE_S))
        reports = await asyncio.gather(*pubs)
        link = lastmile_row(emu.api_url, a, "input", "In")
        assert link is not None and link["link"] is not None

    for rep in reports:
        assert rep.error is None, rep.error
    assert res_a.error is None and res_b.error is None, (res_a.error, res_b.error)
    p50_a, p50_b = res_a.delay_percentile(50), res_b.delay_percentile(50)
    print(f"median end-to-end delay: impaired {p50_a} ms, plain {p50_b} ms")
    assert p50_a is not None and p50_b is not None
    assert p50_a >= DELAY_MS
    assert p50_a - p50_b >= DELAY_MS * 0.6, (p50_a, p50_b)
    stats = link["link"]["stats"]
    assert stats["forward"]["bytes_delivered"] > 100_000, stats  # encoder -> region went through it
    assert stats["connections_total"] >= 1
