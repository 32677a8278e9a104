"""Last mile on an SRT-Listener output: a viewer on a lossy downlink still gets every frame.

One flow: SRT-Listener input (a real ffmpeg publishes to it), SRT-Listener output with SrtLatency 120 ms
and a ``from_region`` last-mile impairment of 5 % Bernoulli loss. Two real ffmpeg players read the
output at once: one at the *impaired URL*, one at the normal URL. SRT retransmits what the link drops,
so once the publisher is done the impaired player has decoded as many frames as the clean one, with no
decode error, while the link's counters show the drops toward the viewer.
"""

from __future__ import annotations

import tempfile
import time

from lastmile_kit import (
    A_REGION,
    Receiver,
    Sdk,
    admin,
    decode,
    lastmile_row,
    publisher,
    snapshot,
    stop_all,
    wait_until,
)

from emulator.testing import EmulatorThread

SEND_S = 7.0


def test_srt_listener_output_from_region_loss_is_recovered(ffmpeg_exe: str) -> None:
    with EmulatorThread() as emu:
        sdk = Sdk(emu)
        f = sdk.flow("LastMileSrt", A_REGION)
        in_url = sdk.input(f, "In", "SRT-Listener", srt_latency=120)
        out_url = sdk.output(f, "Out", "SRT-Listener", srt_latency=120)
        sdk.status(f, "online")
        status, row = admin(emu.api_url, "PUT", f"/_emulator/lastmile/{f}/output/Out",
                            {"from_region": {"loss_pct": 5}})  # fmt: skip
        assert status == 200, row
        impaired = str(row["impaired_url"])
        assert impaired.startswith("srt://") and impaired != out_url

        pub = publisher(ffmpeg_exe, in_url, SEND_S)
        try:
            wait_until(lambda: snapshot(emu)["live_flows"][f]["inputs"]["In"]["bytes_in"], 20, "media in")
            rx_lossy = Receiver(ffmpeg_exe, impaired)
            rx_clean = Receiver(ffmpeg_exe, out_url)
            wait_until(lambda: rx_lossy.bytes_received and rx_clean.bytes_received, 20, "both players")
            pub.wait(SEND_S + 20)  # the whole stream sent
            # Past the input hold the output closes its callers (SHUTDOWN), so each player ends by
            # itself and writes all it got; one killed while still running loses what ffmpeg still
            # buffers (most often the lossy one, waiting on a retransmission: 145 vs 148 frames).
            players = {"lossy": rx_lossy, "clean": rx_clean}
            deadline = time.monotonic() + 30
            while any(rx.proc.poll() is None for rx in players.values()) and time.monotonic() < deadline:
                time.sleep(0.1)
            got = stop_all(players)
            lossy, clean = got["lossy"], got["clean"]
        finally:
            pub.kill()
            pub.wait(10)
        row = lastmile_row(emu.api_url, f, "output", "Out")

    assert row is not None and row["link"] is not None
    stats = row["link"]["stats"]
    print(f"link counters: {stats}")
    with tempfile.TemporaryDirectory() as tmp:
        d_lossy, d_clean = decode(lossy.data, tmp, "lossy"), decode(clean.data, tmp, "clean")
    print(f"frames decoded: impaired {d_lossy.frames}, clean {d_clean.frames}")
    assert stats["reverse"]["dropped"] > 0, "the link dropped nothing toward the viewer"
    assert stats["forward"]["dropped"] == 0, "to_region was not impaired"
    assert d_clean.frames >= 50 and not d_clean.error
    assert not d_lossy.error and d_lossy.errors == 0, d_lossy
    assert d_lossy.frames >= d_clean.frames - 2, (d_lossy.frames, d_clean.frames)
