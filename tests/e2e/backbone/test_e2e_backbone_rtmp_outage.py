"""RTMP across a backbone outage timeline, end to end through two flows (issue 5's flow-level proof).

Flow A (Singapore): RTMP-PUSH input fed by a real ffmpeg, RTMP-PULL output ``ToB``. Flow B (Frankfurt):
Flow input paired with ``ToB`` (Flow B's RTMP puller crosses a :class:`~mediaplane.netem.link.TcpLink`),
RTMP-PULL output played by our RTMP player (which records every unit and signal) and by a real ffmpeg
player (which ends playback on NetStream.Play.UnpublishNotify, so it shows that no unpublish reached it).

``POST /_emulator/links/{A}/{B}/timeline`` (both ways) runs: a 5 s stall outage (the TCP connection is
held, bytes wait), then a 1 s reset outage (connections cut with RST, new ones refused). Nobody is told
to reconnect: Flow B's input puller reconnects by itself once the link returns, within the flow's input
hold (3 s), so the players at B see no unpublish and get media again on their one connection, starting
with fresh sequence headers and a keyframe. The players' arrival times show the gap.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from backbone_kit import (
    A_REGION,
    B_REGION,
    FPS,
    ClientLoop,
    Receiver,
    RtmpPlayer,
    Sdk,
    admin,
    link_stats,
    publisher,
    snapshot,
    wait_until,
)

from emulator.testing import EmulatorThread
from mediaplane.relay import UnitKind

pytestmark = pytest.mark.ffmpeg

MEDIA_S = 14
STALL_AT_S, STALL_S, RESET_S = 1.0, 5.0, 1.0
VIDEO = (UnitKind.KEYFRAME, UnitKind.FRAME)


def _tcp_link(emu: EmulatorThread) -> dict[str, Any]:
    links = [row for row in link_stats(emu) if "resets" in row["stats"]]
    assert len(links) == 1, f"expected one TCP backbone link, got {links}"
    return links[0]


def test_rtmp_flow_chain_through_outage_timeline(ffmpeg_exe: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with EmulatorThread({"seed": 11}) as emu, ClientLoop() as clients:
        api = Sdk(emu)
        a = api.flow("OutageA", A_REGION)
        b = api.flow("OutageB", B_REGION)
        push_url = api.input(a, "In", "RTMP-PUSH")
        api.output(a, "ToB", "RTMP-PULL")
        api.input(b, "FromA", "Flow", pair_flow_id=a, pair_output_name="ToB")
        play_url = api.output(b, "Out", "RTMP-PULL")
        api.status(a, "online")
        api.status(b, "online")
        player = RtmpPlayer(play_url)
        clients.call(player.start)
        ffplayer = Receiver(ffmpeg_exe, play_url)
        wait_until(
            lambda: (
                snapshot(emu)["live_flows"][b]["outputs"]["Out"]["players"] == 2
                and snapshot(emu)["live_flows"][a]["outputs"]["ToB"]["backbone_legs"] == 1
            ),
            20,
            "the player at B and Flow B's input puller at A",
        )
        pub = publisher(ffmpeg_exe, push_url, MEDIA_S)
        try:
            wait_until(
                lambda: sum(v for *_, v in clients.run(lambda: list(player.units))) >= FPS,
                20,
                "a second of video at the player",
            )
            steps = [
                {
                    "at_s": STALL_AT_S,
                    "changes": {"outage": True, "outage_mode": "stall"},
                    "duration_s": STALL_S,
                },
                {
                    "at_s": STALL_AT_S + STALL_S,
                    "changes": {"outage": True, "outage_mode": "reset"},
                    "duration_s": RESET_S,
                },
            ]
            path = f"/_emulator/links/{A_REGION}/{B_REGION}/timeline"
            status, view = admin(emu.api_url, "POST", path, {"steps": steps, "both_ways": True})
            posted = time.monotonic()
            assert status == 200, view
            assert all(row["timeline"] for row in view["impairments"]), view
            stall_from = posted + STALL_AT_S
            back_at = stall_from + STALL_S + RESET_S
            # During the stall the admin API shows the outage in force on both directions.
            time.sleep(max(0.0, stall_from + 1.0 - time.monotonic()))
            status, during = admin(emu.api_url, "GET", "/_emulator/links")
            assert status == 200
            rows = {(r["from"], r["to"]): r["impairment"] for r in during["impairments"]}
            for pair in ((A_REGION, B_REGION), (B_REGION, A_REGION)):
                assert rows[pair]["outage"] and rows[pair]["outage_mode"] == "stall", during
            _, err = pub.communicate(timeout=MEDIA_S + 30)
            assert pub.returncode == 0, err.decode(errors="replace")
            time.sleep(0.5)
            ffmpeg_alive = ffplayer.proc.poll() is None
            ff = ffplayer.stop()
            units = clients.run(lambda: list(player.units))
            signals = clients.run(lambda: list(player.signals))
            sessions = clients.run(lambda: player.puller.sessions_started)
            attempts = clients.run(lambda: player.puller.attempts)
            link = _tcp_link(emu)
            b_input_sessions = emu.run(lambda: emu.em.runtime.live[b].inputs[0].client.sessions_started)  # type: ignore[union-attr]
            _, after = admin(emu.api_url, "GET", "/_emulator/links")
        finally:
            if ffplayer.proc.poll() is None:
                ffplayer.proc.kill()
            if pub.poll() is None:
                pub.kill()
                pub.communicate(timeout=10)
            clients.call(player.close)
        api.status(b, "offline")
        api.status(a, "offline")

    video = [(t, ts) for t, kind, ts, is_video in units if is_video and kind in VIDEO]
    gaps = [(video[i + 1][0] - video[i][0], i) for i in range(len(video) - 1)]
    gap_s, at = max(gaps)
    gap_start, gap_end = video[at][0], video[at + 1][0]
    ts_jump_ms = video[at + 1][1] - video[at][1]
    recovery_s = gap_end - back_at
    after_gap = [u for u in units if u[0] > gap_start + 0.5]  # the gap is longer than that
    video_after = [u for u in after_gap if u[3] and u[1] in VIDEO]
    print(
        f"\nplayer at B: {len(video)} video frames; gap {gap_s:.2f} s (from"
        f" {gap_start - stall_from:+.2f} s after the stall began to {gap_end - back_at:+.2f} s after the"
        f" link returned); RTMP timestamps jump"
        f" {ts_jump_ms} ms; {len(video_after)} video frames after; signals {[s for _, s in signals]};"
        f" link {link['stats']}; Flow B input sessions {b_input_sessions}"
    )
    # The outage shows as one gap at least as long as the stall, ending soon after the link returns.
    assert gap_s >= STALL_S - 0.5, f"largest gap {gap_s:.2f} s"
    assert gap_start <= stall_from + 0.5, "media stopped long after the stall began"
    assert -0.5 <= recovery_s <= 6.0, f"media came back {recovery_s:.2f} s after the link returned"
    # The reset cut the backbone connection; Flow B's input puller reconnected by itself.
    assert link["stats"]["resets"] >= 1, link
    assert link["stats"]["connections_total"] >= 2, link
    assert b_input_sessions >= 2, f"Flow B's input played {b_input_sessions} sessions"
    # The player stayed on its one connection and got the stream again: an unpublish then a publish,
    # fresh sequence headers, a keyframe first, and the rest of the media.
    assert sessions == 1 and attempts == 1, (
        f"the player reconnected ({attempts} attempts, {sessions} sessions)"
    )
    kinds = [s for _, s in signals]
    assert "unpublished" not in kinds, kinds
    # The real ffmpeg player lived through it too, and got media after the link returned.
    assert ffmpeg_alive, f"the ffmpeg player at B ended: {ff.stderr[-300:]}"
    assert [t for t in ff.arrivals.values() if t > back_at + 0.5], (
        "the ffmpeg player got nothing after the outage"
    )
    assert [k for _, k, _, v in after_gap if v and k in (UnitKind.VIDEO_CONFIG, *VIDEO)][:2] == [
        UnitKind.VIDEO_CONFIG,
        UnitKind.KEYFRAME,
    ], "the stream did not resume with a sequence header and a keyframe"
    assert len(video_after) >= 2 * FPS, f"only {len(video_after)} video frames after the outage"
    # The timeline ran out: nothing is left in force but what it reverted to (no outage).
    for row in after["impairments"]:
        assert not row["impairment"]["outage"], after
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors
