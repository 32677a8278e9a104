"""Failover through the official SDK with real ffmpeg peers.

OpenMediaConnectFlowFailover, then a backup RTMP-PUSH input; ffmpeg publishes to both inputs, each with
its own picture size, and an ffmpeg player reads the flow's output. The primary publishes first; once
the player has its frames the backup joins (and must not take over). When the primary publisher is killed
the output keeps flowing from the backup (decodable: the player sees the backup's frames); when the
primary returns, the flow switches back to it.
"""

from __future__ import annotations

from typing import Any

import pytest
from e2e_peers import FPS, Receiver
from e2e_runtime_kit import Sdk, frame_sizes, kill, live, sized_publisher, stop_all, wait_players, wait_until

from emulator.testing import EmulatorThread

pytestmark = pytest.mark.ffmpeg

PRIMARY, BACKUP = (320, 240), (240, 180)


def active_input(emu: EmulatorThread, flow: str) -> str | None:
    value: str | None = live(emu)["live_flows"][flow]["active_input"]
    return value


def input_publishing(emu: EmulatorThread, flow: str, name: str) -> bool:
    return bool(live(emu)["live_flows"][flow]["inputs"][name]["publisher"])


def sizes_so_far(rx: Receiver, workdir: str) -> list[tuple[int, int]]:
    """The runs of frame sizes in what the player has received until now (a stream cut mid-frame may
    not demux: then none yet)."""
    import av

    try:
        runs, _ = frame_sizes(rx.bytes_so_far(), workdir, "so-far")
    except av.error.FFmpegError:
        return []
    return runs


def test_failover_to_backup_and_back(ffmpeg_exe: str, tmp_path: Any) -> None:
    size = "{}x{}".format
    with EmulatorThread() as emu:
        api = Sdk(emu)
        f = api.flow("Failover", "ap-southeast-1")
        primary_url = api.input(f, "Primary", "RTMP-PUSH")
        api.open_failover(f)
        backup_url = api.input(f, "Backup", "RTMP-PUSH")
        play_url = api.output(f, "Out", "RTMP-PULL")
        info = api.input_info(f)
        assert (info.input_name, info.backup_input_name) == ("Primary", "Backup")
        api.status(f, "online")
        rx = Receiver(ffmpeg_exe, play_url)
        wait_players(emu, {(f, "Out"): 1})
        # The primary publishes first and alone: whichever input publishes first is forwarded (the
        # backup too, while the primary has none), so starting both at once makes the first frames at
        # the player a race between two ffmpeg handshakes.
        primary = sized_publisher(ffmpeg_exe, primary_url, 30, size(*PRIMARY))
        backup = None
        returned = None
        try:
            wait_until(lambda: active_input(emu, f) == "Primary", 30, "the primary to be active")
            wait_until(
                lambda: len(rx.arrivals) >= FPS or rx.proc.poll() is not None, 30, "media at the player"
            )
            assert rx.proc.poll() is None, f"the player stopped: {rx.stop().stderr[-400:]}"
            backup = sized_publisher(ffmpeg_exe, backup_url, 30, size(*BACKUP))
            wait_until(lambda: input_publishing(emu, f, "Backup"), 30, "the backup to publish")
            assert active_input(emu, f) == "Primary", "the backup took over from a live primary"
            kill(primary)
            wait_until(lambda: active_input(emu, f) == "Backup", 30, "the switch to the backup")
            at_switch = len(rx.arrivals)
            wait_until(
                lambda: len(rx.arrivals) - at_switch >= FPS or rx.proc.poll() is not None,
                30,
                "a second of the backup's frames at the player",
            )
            on_backup = len(rx.arrivals) - at_switch
            player_alive = rx.proc.poll() is None
            returned = sized_publisher(ffmpeg_exe, primary_url, 3, size(*PRIMARY))
            wait_until(lambda: active_input(emu, f) == "Primary", 30, "the switch back to the primary")
            switches = live(emu)["live_flows"][f]
            _, err = returned.communicate(timeout=60)
            assert returned.returncode == 0, err.decode(errors="replace")
            wait_until(
                lambda: len(sizes_so_far(rx, str(tmp_path))) >= 3 or rx.proc.poll() is not None,
                30,
                "the returned primary's frames at the player",
                every=0.5,
            )
            got = rx.stop()
        finally:
            stop_all(primary, rx.proc, *(p for p in (backup, returned) if p is not None))
        api.status(f, "offline")

    assert player_alive, f"the player stopped at the failover: {got.stderr[-300:]}"
    assert on_backup >= FPS, f"only {on_backup} frames reached the player on the backup"
    runs, errors = frame_sizes(got.data, str(tmp_path), "failover")
    assert errors == 0, f"{errors} packets failed to decode"
    assert runs[:3] == [PRIMARY, BACKUP, PRIMARY], f"frame sizes at the player: {runs} ({switches})"
