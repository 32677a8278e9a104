"""Peers that die, flows stopped mid-stream, and what is left afterwards.

* A publisher killed (SIGKILL) that comes back within the flow's input hold (3 s): a player of the paired
  Flow B, across the backbone, keeps its one connection, sees no unpublish, and gets the stream again,
  resuming on a sequence header and a keyframe; the unpublish comes once the publisher is gone for good.
  (The player is our RtmpPuller: ffmpeg ends playback itself on NetStream.Play.UnpublishNotify.)
  The same over SRT with an ffmpeg player (SRT has no unpublish notice; the returning publisher is
  accepted at once, replacing the dead one's connection, silent for over a second).
* A flow set offline while ffmpeg publishes: its publisher and player sessions close, its player's file is
  decodable; another flow keeps flowing; a player killed mid-stream leaves the other player untouched.
* Nothing leaks: after offline + DeleteMediaConnectFlow, and after ``POST /_emulator/reset``, there are no
  live flows or sessions, the emulator loop runs the same tasks as before, SRT ports can be bound again,
  and no backbone link is left.
"""

from __future__ import annotations

import collections
import functools
import logging
import socket
import time
from typing import Any

import pytest
from e2e_peers import FPS, Receiver, decode, publisher
from e2e_runtime_kit import (
    ClientLoop,
    PlayerRecord,
    Sdk,
    admin_post,
    kill,
    live,
    loop_tasks,
    players,
    rtmp_sessions,
    sized_publisher,
    stop_all,
    wait_players,
    wait_until,
)

from emulator.runtime import INPUT_HOLD_S
from emulator.testing import EmulatorThread
from mediaplane.relay import UnitKind
from mediaplane.rtmp import RtmpClientConfig
from mediaplane.srt import parse_srt_url

pytestmark = pytest.mark.ffmpeg


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.split(".")[0] in ("emulator", "mediaplane")
    ]


def test_publisher_returns_within_grace(ffmpeg_exe: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with EmulatorThread() as emu, ClientLoop() as clients:
        api = Sdk(emu)
        a, b, push_url, play_url = api.chain("Grace", "RTMP-PUSH", "RTMP-PULL")
        player = PlayerRecord(play_url, config=RtmpClientConfig(idle_timeout_s=30.0))
        clients.call(player.start)
        wait_players(emu, {(b, "Out"): 1, (a, "ToB"): 1})
        first = publisher(ffmpeg_exe, push_url, 30)
        second = None
        try:
            wait_until(lambda: clients.run(lambda: len(player.units)) > 2 * FPS, 30, "media at the player")
            kill(first)
            killed_at = time.monotonic()
            time.sleep(1.0)  # back within the flow's input hold (3 s): the players see no unpublish
            second = publisher(ffmpeg_exe, push_url, 3)
            _, err = second.communicate(timeout=30)
            assert second.returncode == 0, err.decode(errors="replace")
            time.sleep(0.5)
            units = clients.run(lambda: list(player.units))
            signals = clients.run(lambda: list(player.signals))
            # Once the publisher is gone for longer than the hold, the players get the unpublish.
            wait_until(
                lambda: clients.run(lambda: "unpublished" in dict(player.signals).values()),
                INPUT_HOLD_S + 3,
                "the unpublish notice at the player",
            )
            sessions = clients.run(lambda: player.puller.sessions_started)
            attempts = clients.run(lambda: player.puller.attempts)
        finally:
            stop_all(first, *([second] if second else []))
            clients.call(player.close)
        api.status(b, "offline")
        api.status(a, "offline")

    assert sessions == 1 and attempts == 1, (
        f"the player reconnected ({attempts} attempts, {sessions} sessions)"
    )
    kinds = [s for _, s in signals]
    # Play started; the publisher was killed and came back within the flow's hold: no unpublish reached
    # the player, the stream went on on the same session (Flow B's input never lost its publisher).
    assert "unpublished" not in kinds, f"player signals: {signals}"
    before = [kind for t, kind, _, _ in units if t < killed_at]
    after = [kind for t, kind, _, _ in units if t > killed_at + 0.5]  # from the returning publisher
    assert before.count(UnitKind.FRAME) >= FPS, "too little media before the kill"
    video_after = [kind for kind in after if kind in (UnitKind.KEYFRAME, UnitKind.FRAME)]
    assert len(video_after) >= 2 * FPS, f"only {len(video_after)} video frames after the publisher returned"
    assert video_after[0] is UnitKind.KEYFRAME, "the returning stream did not start on a keyframe"
    assert after.index(UnitKind.VIDEO_CONFIG) < after.index(UnitKind.KEYFRAME), "no fresh sequence header"
    assert errors_logged(caplog) == []


def test_srt_publisher_returns_ffmpeg_player_stays(
    ffmpeg_exe: str, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """SRT: an ffmpeg player of Flow B keeps its one connection while Flow A's publisher is killed and
    comes back 1.5 s later (before the dead connection's 5 s SRT peer-idle timeout: the runtime replaces a
    publisher silent for a second), and decodes what the returning publisher sends."""
    caplog.set_level(logging.INFO)
    with EmulatorThread() as emu:
        api = Sdk(emu)
        a, b, push_url, play_url = api.chain("SrtGrace", "SRT-Listener", "SRT-Listener")
        wait_players(emu, {(a, "ToB"): 1})
        rx = Receiver(ffmpeg_exe, play_url)
        wait_players(emu, {(b, "Out"): 1})
        first = publisher(ffmpeg_exe, push_url, 30)
        second = None
        try:
            wait_until(lambda: len(rx.arrivals) >= FPS, 30, "media at the player")
            kill(first)
            time.sleep(1.5)
            assert input_has_publisher(emu, a), "the dead publisher's connection is already gone"
            silent_from = rx.bytes_received
            assert rx.proc.poll() is None and players(emu, b, "Out") == 1, (
                "the player left with the publisher"
            )
            # Its timestamps go on from the first's (ffmpeg -copyts at the player drops going backwards).
            second = sized_publisher(ffmpeg_exe, push_url, 3, ts_offset_s=60)
            _, err = second.communicate(timeout=30)
            assert second.returncode == 0, err.decode(errors="replace")
            time.sleep(0.5)
            alive = rx.proc.poll() is None
            kept = players(emu, b, "Out")
            got = rx.stop(settle_s=0.5)
        finally:
            stop_all(first, rx.proc, *([second] if second else []))
        api.status(b, "offline")
        api.status(a, "offline")

    assert alive and kept == 1, f"the player did not stay ({alive=}, {kept=}): {got.stderr[-300:]}"
    returned = got.data[silent_from - silent_from % 188 :]
    d = decode(returned, str(tmp_path), "returned")
    assert d.error == "", f"what arrived after the return: {d.error}"
    assert d.frames >= 2 * FPS, f"only {d.frames} frames decoded after the publisher returned"
    assert errors_logged(caplog) == []
    assert any("replacing a publisher" in r.getMessage() for r in caplog.records)


def input_has_publisher(emu: EmulatorThread, flow: str) -> bool:
    return bool(live(emu)["live_flows"][flow]["inputs"]["In"]["publisher"])


def test_flow_stopped_mid_stream_and_player_killed(
    ffmpeg_exe: str, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    seconds = 6
    with EmulatorThread() as emu:
        api = Sdk(emu)
        ids, push, play = {}, {}, {}
        for name in ("Stopped", "Kept"):
            ids[name] = api.flow(name, "ap-southeast-1")
            push[name] = api.input(ids[name], "In", "RTMP-PUSH")
            play[name] = api.output(ids[name], "Out", "RTMP-PULL")
            api.status(ids[name], "online")
        rx = {
            "stopped": Receiver(ffmpeg_exe, play["Stopped"]),
            "kept": Receiver(ffmpeg_exe, play["Kept"]),
            "killed": Receiver(ffmpeg_exe, play["Kept"]),
        }
        wait_players(emu, {(ids["Stopped"], "Out"): 1, (ids["Kept"], "Out"): 2})
        # The stopped flow's publisher would run far longer: it must be cut off by the flow going offline.
        pubs = {name: publisher(ffmpeg_exe, push[name], seconds if name == "Kept" else 60) for name in ids}
        try:
            wait_until(lambda: all(len(r.arrivals) >= FPS for r in rx.values()), 30, "media at every player")
            stopped_key = play["Stopped"].rsplit("/", 1)[1]
            stopped_push_key = push["Stopped"].rsplit("/", 1)[1]
            api.status(ids["Stopped"], "offline")
            pub_rc = pubs["Stopped"].wait(10)
            rx_rc = rx["stopped"].proc.wait(10)
            left = [
                s
                for s in rtmp_sessions(emu)
                if s["path"] and s["path"].split("/")[-1] in (stopped_key, stopped_push_key)
            ]
            assert left == [], f"sessions of the stopped flow are still open: {left}"
            kept_before = rx["kept"].bytes_received
            kill(rx["killed"].proc)
            wait_until(lambda: players(emu, ids["Kept"], "Out") == 1, 5, "the killed player's session to go")
            time.sleep(1.0)
            assert rx["kept"].bytes_received > kept_before, "the other flow stopped flowing"
            _, err = pubs["Kept"].communicate(timeout=seconds + 30)
            assert pubs["Kept"].returncode == 0, err.decode(errors="replace")
            got = {name: r.stop(settle_s=1.0) for name, r in rx.items() if name != "killed"}
        finally:
            stop_all(*pubs.values(), *(r.proc for r in rx.values()))
        api.status(ids["Kept"], "offline")

    # ffmpeg publishing into a flow that went offline loses its connection: it fails, it does not hang.
    assert pub_rc != 0, "the publisher of the stopped flow did not notice"
    # Its player saw the end of the stream (ffmpeg exits 0 and finishes its file), not an error.
    assert rx_rc == 0, f"the stopped flow's player ended with {rx_rc}: {got['stopped'].stderr[-300:]}"
    d = decode(got["stopped"].data, str(tmp_path), "stopped")
    assert d.error == "" and d.errors == 0 and d.frames >= FPS, f"stopped flow's player: {d}"
    d = decode(got["kept"].data, str(tmp_path), "kept")
    assert d.error == "" and d.errors == 0, f"kept flow's player: {d}"
    assert d.frames == seconds * FPS, f"kept flow's player decoded {d.frames} of {seconds * FPS} frames"
    assert errors_logged(caplog) == []


def build_relays(api: Sdk, tag: str) -> tuple[list[str], dict[str, str]]:
    """RTMP and SRT Singapore -> Frankfurt relays (Flow inputs and a Flow output: TCP and UDP links)."""
    a = api.flow(f"A{tag}", "ap-southeast-1")
    urls = {"rtmp push": api.input(a, "In", "RTMP-PUSH")}
    api.output(a, "ToB", "RTMP-PULL")
    b = api.flow(f"B{tag}", "eu-central-1")
    api.input(b, "FromA", "Flow", pair_flow_id=a, pair_output_name="ToB")
    urls["rtmp play"] = api.output(b, "Out", "RTMP-PULL")
    c = api.flow(f"C{tag}", "us-west-1")
    api.input(c, "FromA", "RTMP-PUSH")
    api.output(a, "ToC", "Flow", pair_flow_id=c, pair_input_name="FromA")
    api.output(c, "Out", "RTMP-PULL")
    sa = api.flow(f"SA{tag}", "ap-southeast-1")
    urls["srt push"] = api.input(sa, "In", "SRT-Listener")
    urls["srt a out"] = api.output(sa, "ToB", "SRT-Listener")
    sb = api.flow(f"SB{tag}", "eu-central-1")
    urls["srt b in"] = api.input(sb, "FromA", "Flow", pair_flow_id=sa, pair_output_name="ToB")
    urls["srt play"] = api.output(sb, "Out", "SRT-Listener")
    flows = [c, b, a, sb, sa]
    for fid in flows:
        api.status(fid, "online")
    return flows, urls


def media_everywhere(emu: EmulatorThread, flows: list[str]) -> bool:
    live_flows = live(emu)["live_flows"]
    return all(live_flows[f]["bytes_in"] > 0 for f in flows)


def srt_ports(urls: dict[str, str]) -> list[tuple[str, int]]:
    return [parse_srt_url(u)[:2] for u in urls.values() if u.startswith("srt://")]


def bindable(addr: tuple[str, int]) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(addr)
        except OSError:
            return False
    return True


def assert_nothing_left(
    emu: EmulatorThread, baseline: list[str], ports: list[tuple[str, int]], when: str
) -> None:
    wait_until(lambda: not live(emu)["live_flows"], 5, f"{when}: no live flow")
    wait_until(lambda: not rtmp_sessions(emu), 5, f"{when}: every RTMP session closed")
    wait_until(lambda: emu.run(emu.em.backbone.links) == [], 5, f"{when}: every backbone link closed")
    tasks: list[str] = []

    def same_tasks() -> bool:
        # aiohttp keeps one handler task per open HTTP keep-alive connection (the SDK's): not the runtime.
        tasks[:] = [t for t in loop_tasks(emu) if not t.startswith("RequestHandler.")]
        return collections.Counter(tasks) == collections.Counter(baseline)

    try:
        wait_until(same_tasks, 5, f"{when}: the emulator loop's tasks back to the baseline")
    except AssertionError:
        extra = collections.Counter(tasks) - collections.Counter(baseline)
        raise AssertionError(f"{when}: tasks left on the emulator loop: {dict(extra)}") from None
    taken = [addr for addr in ports if not bindable(addr)]
    assert taken == [], f"{when}: SRT ports still bound: {taken}"
    assert emu.run(lambda: {r: sorted(p) for r, p in emu.em.runtime._srt_ports.items() if p}) == {}, when


def test_nothing_leaks_after_delete_and_reset(ffmpeg_exe: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with EmulatorThread() as emu:
        api = Sdk(emu)
        baseline = [t for t in loop_tasks(emu) if not t.startswith("RequestHandler.")]
        for round_, how in enumerate(("delete", "reset")):
            flows, urls = build_relays(api, str(round_))
            rx = [Receiver(ffmpeg_exe, urls["rtmp play"]), Receiver(ffmpeg_exe, urls["srt play"])]
            pubs = [publisher(ffmpeg_exe, urls["rtmp push"], 10), publisher(ffmpeg_exe, urls["srt push"], 10)]
            try:
                wait_until(
                    functools.partial(media_everywhere, emu, flows), 15, f"{how}: media through every flow"
                )
                wait_players(emu, {(flows[1], "Out"): 1, (flows[3], "Out"): 1})
                assert len(emu.run(emu.em.backbone.links)) == 3
                if how == "delete":
                    for fid in flows:
                        api.status(fid, "offline")
                        api.delete(fid)
                else:
                    assert admin_post(emu, "/_emulator/reset") == {"status": "ok"}
                assert_nothing_left(emu, baseline, srt_ports(urls), f"after {how}")
            finally:
                stop_all(*pubs, *(r.proc for r in rx))
    assert errors_logged(caplog) == []
