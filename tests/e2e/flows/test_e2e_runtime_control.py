"""Control-plane operations acting on live media, through the official SDK and real ffmpeg peers.

* ForbidMediaConnectFlowOutput stops delivery to that output only (its player stays connected and gets
  nothing new; another output of the same flow keeps flowing); ResumeMediaConnectFlowOutput restores it,
  and the first video the player then gets is a keyframe.
* The same for a Flow output: it leaves the paired flow's input (and closes its backbone link) while
  forbidden, and publishes into it again on Resume.
* GetMediaConnectFlowInput's InputStatus follows real traffic: ``offline`` while the flow is offline,
  ``disconnected`` online without a publisher, ``connected`` while ffmpeg publishes, ``disconnected`` again
  about two seconds (INPUT_ACTIVE_WINDOW_S) after the input's last media; for an RTMP-PUSH and an
  SRT-Listener input.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from e2e_peers import FPS, Receiver, decode, publisher
from e2e_runtime_kit import ClientLoop, PlayerRecord, Sdk, stop_all, video_pes, wait_players, wait_until

from emulator.runtime import INPUT_ACTIVE_WINDOW_S
from emulator.testing import EmulatorThread
from mediaplane.relay import UnitKind
from mediaplane.rtmp import RtmpClientConfig

pytestmark = pytest.mark.ffmpeg

PTS_HZ = 90_000
IN_FLIGHT_S = 0.5
"""Media already on its way to a player when Forbid is answered (socket buffers, ffmpeg's pipe)."""


def arrivals_between(arrivals: dict[int, float], start: float, end: float) -> int:
    return sum(1 for t in arrivals.values() if start <= t < end)


def last_media_age(emu: EmulatorThread, flow_id: str) -> float:
    """Seconds since the flow's input hub last received a unit, on the runtime's loop clock."""

    def age() -> float:
        last = emu.em.runtime.live[flow_id].inputs[0].hub.counters.last_unit_at
        assert last is not None, "the input never received media"
        return float(asyncio.get_running_loop().time() - last)

    return emu.run(age)


def test_forbid_and_resume_one_output(ffmpeg_exe: str, tmp_path: Any) -> None:
    seconds = 8
    with EmulatorThread() as emu:
        api = Sdk(emu)
        f = api.flow("Forbidding", "ap-southeast-1")
        push_url = api.input(f, "In", "RTMP-PUSH")
        urls = {name: api.output(f, name, "RTMP-PULL") for name in ("Muted", "Other")}
        api.status(f, "online")
        rx = {name: Receiver(ffmpeg_exe, url) for name, url in urls.items()}
        wait_players(emu, {(f, "Muted"): 1, (f, "Other"): 1})
        pub = publisher(ffmpeg_exe, push_url, seconds)
        try:
            wait_until(lambda: len(rx["Muted"].arrivals) >= FPS, 20, "the first second at the player")
            t_forbid = time.monotonic()
            api.forbid(f, "Muted")
            time.sleep(2.5)
            muted_alive = rx["Muted"].proc.poll() is None
            t_resume = time.monotonic()
            api.resume(f, "Muted")
            _, err = pub.communicate(timeout=seconds + 30)
            assert pub.returncode == 0, err.decode(errors="replace")
            got = {name: r.stop(settle_s=1.0) for name, r in rx.items()}
        finally:
            stop_all(pub, *(r.proc for r in rx.values()))
        api.status(f, "offline")

    muted, other = got["Muted"], got["Other"]
    assert muted_alive, f"the forbidden output's player was disconnected: {muted.stderr[-300:]}"
    window = (t_forbid + IN_FLIGHT_S, t_resume)
    assert arrivals_between(muted.arrivals, *window) == 0, "the forbidden output kept delivering"
    expected = (window[1] - window[0]) * FPS
    assert arrivals_between(other.arrivals, *window) >= 0.7 * expected, "the other output stopped too"
    after = arrivals_between(muted.arrivals, t_resume, float("inf"))
    assert after >= 2 * FPS, f"only {after} frames reached the player after Resume"
    # The video the player missed shows as one jump in PTS; the first frame after it must be a random
    # access point (ffmpeg's muxer may hold back the frame before the gap until the next one arrives, so
    # arrival times cannot tell where the gap is).
    pes = video_pes(muted.data)
    gaps = [i for i in range(1, len(pes)) if pes[i].pts - pes[i - 1].pts > 0.5 * PTS_HZ]
    assert len(gaps) == 1, f"expected one gap in the forbidden player's video, found {len(gaps)}"
    missed_s = (pes[gaps[0]].pts - pes[gaps[0] - 1].pts) / PTS_HZ
    assert missed_s >= 1.5, f"the gap is only {missed_s:.1f} s of video"
    assert pes[gaps[0]].random_access, "delivery resumed on a frame that is not a keyframe"
    for name, r in got.items():
        d = decode(r.data, str(tmp_path), name)
        assert d.error == "" and d.errors == 0, f"{name}: {d.error or d.errors} ({r.stderr[-300:]})"
        assert d.keyframe_first, f"{name}: does not start on a keyframe"


def test_input_status_follows_traffic(ffmpeg_exe: str) -> None:
    seconds = 3
    with EmulatorThread() as emu:
        api = Sdk(emu)
        flows, urls = {}, {}
        for proto in ("RTMP-PUSH", "SRT-Listener"):
            fid = api.flow(f"Status{proto.split('-')[0]}", "ap-southeast-1")
            urls[proto] = api.input(fid, "In", proto)
            flows[proto] = fid
        for proto, fid in flows.items():
            assert api.input_status(fid) == "offline", proto
            api.status(fid, "online")
            assert api.input_status(fid) == "disconnected", proto
        pubs = {proto: publisher(ffmpeg_exe, url, seconds) for proto, url in urls.items()}
        try:
            for proto, fid in flows.items():
                wait_until(api.input_status_is(fid, "connected"), 10, f"{proto} connected")
            seen: dict[str, set[str]] = {proto: set() for proto in flows}
            while all(p.poll() is None for p in pubs.values()):
                for proto, fid in flows.items():
                    seen[proto].add(api.input_status(fid))
                time.sleep(0.2)
            for p in pubs.values():
                _, err = p.communicate(timeout=30)
                assert p.returncode == 0, err.decode(errors="replace")
            age_at_flip = {}
            for proto, fid in flows.items():
                wait_until(api.input_status_is(fid, "disconnected"), 10, f"{proto} disconnected")
                age_at_flip[proto] = last_media_age(emu, fid)
        finally:
            stop_all(*pubs.values())
        for proto, fid in flows.items():
            api.status(fid, "offline")
            assert api.input_status(fid) == "offline", proto

    for proto in flows:
        assert seen[proto] == {"connected"}, f"{proto}: InputStatus while publishing was {seen[proto]}"
        # The status flips one window after the last media the input received, by the emulator's own
        # clock; the upper bound leaves room for this test's polling on a loaded machine.
        assert INPUT_ACTIVE_WINDOW_S <= age_at_flip[proto] <= INPUT_ACTIVE_WINDOW_S + 5.0, (
            f"{proto}: disconnected {age_at_flip[proto]:.1f} s after the input's last media"
        )


def test_forbid_and_resume_a_flow_output(ffmpeg_exe: str) -> None:
    """A Flow output (pushing into Flow B across the backbone) leaves Flow B's input while forbidden, so
    B's player gets nothing, and the backbone link is closed; on Resume it publishes again, and B's
    player, still on its first connection, resumes with a sequence header and a keyframe."""
    with EmulatorThread() as emu, ClientLoop() as clients:
        api = Sdk(emu)
        a = api.flow("PushA", "ap-southeast-1")
        push_url = api.input(a, "In", "RTMP-PUSH")
        b = api.flow("PushB", "eu-central-1")
        api.input(b, "FromA", "RTMP-PUSH")
        api.output(a, "ToB", "Flow", pair_flow_id=b, pair_input_name="FromA")
        play_url = api.output(b, "Out", "RTMP-PULL")
        api.status(b, "online")
        api.status(a, "online")
        player = PlayerRecord(play_url, config=RtmpClientConfig(idle_timeout_s=30.0))
        clients.call(player.start)
        wait_players(emu, {(b, "Out"): 1})
        pub = publisher(ffmpeg_exe, push_url, 8)
        try:
            wait_until(lambda: clients.run(lambda: len(player.units)) > FPS, 20, "media at Flow B's player")
            t_forbid = time.monotonic()
            api.forbid(a, "ToB")
            wait_until(
                lambda: emu.run(emu.em.backbone.links) == [], 5, "the forbidden output's link to close"
            )
            time.sleep(2.0)
            t_resume = time.monotonic()
            api.resume(a, "ToB")
            wait_until(lambda: len(emu.run(emu.em.backbone.links)) == 1, 5, "the link to open again")
            _, err = pub.communicate(timeout=30)
            assert pub.returncode == 0, err.decode(errors="replace")
            units = clients.run(lambda: list(player.units))
            attempts = clients.run(lambda: player.puller.attempts)
        finally:
            stop_all(pub)
            clients.call(player.close)
        api.status(a, "offline")
        api.status(b, "offline")

    assert attempts == 1, "Flow B's player had to reconnect"
    during = [u for u in units if t_forbid + IN_FLIGHT_S <= u[0] < t_resume]
    assert during == [], f"{len(during)} units reached Flow B while its feeding output was forbidden"
    after = [kind for t, kind, _, _ in units if t >= t_resume]
    video = [k for k in after if k in (UnitKind.KEYFRAME, UnitKind.FRAME)]
    assert len(video) >= 2 * FPS, f"only {len(video)} units after Resume"
    assert video[0] is UnitKind.KEYFRAME, "Flow B resumed on a frame that is not a keyframe"
    assert after.index(UnitKind.VIDEO_CONFIG) < after.index(UnitKind.KEYFRAME), "no sequence header first"
