"""Failover through the official SDK with real ffmpeg peers.

OpenMediaConnectFlowFailover, then a backup RTMP-PUSH input; ffmpeg publishes to both inputs, each with
its own picture size, and an ffmpeg player reads the flow's output. When the primary publisher is killed
the output keeps flowing from the backup (decodable: the player sees the backup's frames); when the
primary returns, the flow switches back to it.
"""

from __future__ import annotations

import time
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
        backup = sized_publisher(ffmpeg_exe, backup_url, 20, size(*BACKUP))
        primary = sized_publisher(ffmpeg_exe, primary_url, 20, size(*PRIMARY))
        returned = None
        try:
            wait_until(lambda: active_input(emu, f) == "Primary", 10, "the primary to be active")
            wait_until(
                lambda: len(rx.arrivals) >= FPS or rx.proc.poll() is not None, 15, "media at the player"
            )
            assert rx.proc.poll() is None, f"the player stopped: {rx.stop().stderr[-400:]}"
            time.sleep(1.0)
            kill(primary)
            wait_until(lambda: active_input(emu, f) == "Backup", 5, "the switch to the backup")
            at_switch = len(rx.arrivals)
            time.sleep(2.0)
            on_backup = len(rx.arrivals) - at_switch
            player_alive = rx.proc.poll() is None
            returned = sized_publisher(ffmpeg_exe, primary_url, 3, size(*PRIMARY))
            wait_until(lambda: active_input(emu, f) == "Primary", 10, "the switch back to the primary")
            switches = live(emu)["live_flows"][f]
            _, err = returned.communicate(timeout=30)
            assert returned.returncode == 0, err.decode(errors="replace")
            got = rx.stop(settle_s=0.5)
        finally:
            stop_all(primary, backup, rx.proc, *([returned] if returned else []))
        api.status(f, "offline")

    assert player_alive, f"the player stopped at the failover: {got.stderr[-300:]}"
    assert on_backup >= FPS, f"only {on_backup} frames reached the player in 2 s on the backup"
    runs, errors = frame_sizes(got.data, str(tmp_path), "failover")
    assert errors == 0, f"{errors} packets failed to decode"
    assert runs[:3] == [PRIMARY, BACKUP, PRIMARY], f"frame sizes at the player: {runs} ({switches})"
