"""SRT players end when their source is gone, as RTMP players do (issue 11, "Shutdown that always works").

A flow keeps its players through an input gap of up to the input hold (3 s); past it RTMP players get
UnpublishNotify and ffmpeg ends. At that same moment an SRT-Listener output closes its callers (a
SHUTDOWN control packet) and an SRT-Caller output closes its connection, dialing again only when the
source returns. Across the backbone the end travels leg by leg: Flow A's SRT-Listener output closes
Flow B's leg, Flow B's input is then gone, and past Flow B's own hold its players end too.

Real peers only: an ffmpeg publisher into Flow A's SRT-Listener input, an ffmpeg player (caller) on
Flow B's SRT-Listener output, and an ffmpeg listener that Flow B's SRT-Caller output pushes to.
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess

from e2e_peers import Receiver, decode, free_port, publisher
from e2e_runtime_kit import Sdk, live, players, stop_all, wait_until

from emulator.testing import EmulatorThread

SECONDS = 4
END_WITHIN_S = 30.0
"""Generous: the end crosses two flows' holds (3 s each) and the backbone, on a loaded machine."""


def _exits(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def _caller_output_connected(emu: EmulatorThread, flow_id: str, name: str) -> bool:
    return bool(live(emu)["live_flows"][flow_id]["outputs"][name]["client_connected"])


def test_srt_players_end_after_the_publisher_stops(ffmpeg_exe: str, tmp_path: pathlib.Path) -> None:
    sink_port = free_port(socket.SOCK_DGRAM)
    sink_url = f"srt://127.0.0.1:{sink_port}"
    with EmulatorThread() as emu:
        api = Sdk(emu)
        a = api.flow("SrtEndA", "ap-southeast-1")
        b = api.flow("SrtEndB", "eu-central-1")
        push_url = api.input(a, "In", "SRT-Listener")
        api.output(a, "ToB", "SRT-Listener")
        api.input(b, "FromA", "Flow", pair_flow_id=a, pair_output_name="ToB")
        play_url = api.output(b, "Out", "SRT-Listener")
        api.output(b, "Push", "SRT-Caller", output_to_url=sink_url)
        api.status(a, "online")
        api.status(b, "online")
        wait_until(lambda: players(emu, a, "ToB") >= 1, 30, "Flow B's backbone leg at Flow A")
        player = Receiver(ffmpeg_exe, play_url)
        sink = Receiver(ffmpeg_exe, sink_url, listen=True)
        procs = [player.proc, sink.proc]
        try:
            wait_until(lambda: players(emu, b, "Out") >= 1, 30, "the player at Flow B")
            wait_until(lambda: _caller_output_connected(emu, b, "Push"), 30, "the SRT-Caller output")
            pub = publisher(ffmpeg_exe, push_url, SECONDS)
            procs.append(pub)
            wait_until(lambda: player.bytes_received > 0 and sink.bytes_received > 0, 30, "media at B")
            assert pub.wait(SECONDS + 30) == 0, pub.stderr.read() if pub.stderr else ""
            # Nobody stops the player or the sink: they end by themselves once the source is gone.
            assert _exits(player.proc, END_WITHIN_S) is not None, "the SRT player at Flow B never ended"
            assert _exits(sink.proc, END_WITHIN_S) is not None, "the SRT-Caller output never hung up"
            wait_until(lambda: players(emu, b, "Out") == 0, 10, "the player's session at B to go")
            # The SRT-Caller output does not dial while the source is away ...
            assert not _caller_output_connected(emu, b, "Push")
            got_player, got_sink = player.stop(), sink.stop()
            # ... and dials again when it returns.
            sink2 = Receiver(ffmpeg_exe, sink_url, listen=True)
            procs.append(sink2.proc)
            pub2 = publisher(ffmpeg_exe, push_url, SECONDS)
            procs.append(pub2)
            wait_until(lambda: sink2.bytes_received > 0, 30, "media at the SRT-Caller output's remote again")
            assert pub2.wait(SECONDS + 30) == 0
            assert _exits(sink2.proc, END_WITHIN_S) is not None, "the SRT-Caller output never hung up again"
            sink2.stop()
        finally:
            stop_all(*procs)
    for name, got in (("player", got_player), ("sink", got_sink)):
        result = decode(got.data, os.fspath(tmp_path), name)
        assert not result.error, (name, result.error, got.stderr)
        assert result.frames > 0, (name, result, got.stderr)


def test_a_flow_holds_its_srt_players_through_the_input_hold(ffmpeg_exe: str) -> None:
    """One flow: when its publisher leaves, its SRT player is still connected (a publisher could come
    back within the input hold), and it ends afterwards without anyone stopping it."""
    with EmulatorThread() as emu:
        api = Sdk(emu)
        f = api.flow("SrtEndOne", "ap-southeast-1")
        push_url = api.input(f, "In", "SRT-Listener")
        play_url = api.output(f, "Out", "SRT-Listener")
        api.status(f, "online")
        player = Receiver(ffmpeg_exe, play_url)
        pub = publisher(ffmpeg_exe, push_url, SECONDS)

        def publishing() -> bool:
            return bool(live(emu)["live_flows"][f]["inputs"]["In"]["publisher"])

        try:
            wait_until(lambda: players(emu, f, "Out") == 1 and publishing(), 30, "the player and publisher")
            wait_until(lambda: not publishing(), SECONDS + 30, "the publisher to leave")
            assert players(emu, f, "Out") == 1, "the player was dropped before the input hold passed"
            assert _exits(player.proc, END_WITHIN_S) is not None, "the SRT player never ended"
            assert pub.wait(30) == 0
            assert player.stop().data, "the player received nothing"
        finally:
            stop_all(player.proc, pub)
