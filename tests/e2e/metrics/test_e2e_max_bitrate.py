"""MaxBitrate: an input fed above its cap is held to it (media waits: "stutter"); under it, untouched.

A real ffmpeg publishes about 1.2 Mbit/s into an RTMP-PUSH input whose MaxBitrate is 400 kbit/s; a real
ffmpeg player reads the flow's RTMP-PULL output. Over the publish, the input receives everything while
the flow forwards at the cap, and ``/metrics`` shows the time media waited."""

from __future__ import annotations

import subprocess
import time

from test_e2e_metrics import scrape, value

from emulator.testing import EmulatorThread
from tests.e2e.flows.e2e_peers import Receiver

CAP_BPS = 400_000


def test_input_over_max_bitrate_is_held_to_it(ffmpeg_exe: str) -> None:
    topology = {
        "flows": [
            {"name": "Capped", "region": "ap-southeast-1", "status": "online",
             "input": {"name": "In", "protocol": "RTMP-PUSH", "max_bitrate": CAP_BPS},
             "outputs": [{"name": "Out", "protocol": "RTMP-PULL"}]},
        ]
    }  # fmt: skip
    with EmulatorThread(topology) as emu:
        flow = emu.run(lambda: emu.em.manager.flows[0])
        push_url = flow.inputs[0].url
        play_url = flow.outputs["Out"].url
        player = Receiver(ffmpeg_exe, play_url)
        time.sleep(0.5)
        pub = subprocess.Popen(
            [ffmpeg_exe, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
             "-i", "testsrc2=size=640x360:rate=25", "-t", "8", "-c:v", "libx264", "-preset", "ultrafast",
             "-tune", "zerolatency", "-g", "25", "-b:v", "1200k", "-maxrate", "1200k", "-bufsize", "600k",
             "-f", "flv", push_url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            time.sleep(3.0)
            first = emu.run(lambda: emu.em.runtime.snapshot()["live_flows"][flow.id])
            t0 = time.monotonic()
            time.sleep(4.0)
            second = emu.run(lambda: emu.em.runtime.snapshot()["live_flows"][flow.id])
            t1 = time.monotonic()
            metrics = scrape(emu)
        finally:
            pub.kill()
            pub.communicate()
            got = player.stop()

    window = t1 - t0
    in_rate = (second["inputs"]["In"]["bytes_in"] - first["inputs"]["In"]["bytes_in"]) * 8 / window
    out_rate = (second["bytes_in"] - first["bytes_in"]) * 8 / window
    assert in_rate > 2 * CAP_BPS, f"the publisher sent only {in_rate:.0f} bit/s"
    assert 0.75 * CAP_BPS < out_rate < 1.25 * CAP_BPS, f"forwarded {out_rate:.0f} bit/s, cap {CAP_BPS}"
    assert value(metrics, "mcemu_input_max_bitrate_wait_seconds_total", flow="Capped", input="In")[0] > 1.0
    assert got.data, f"the player got nothing: {got.stderr[-300:]}"
