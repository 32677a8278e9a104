"""A chain A -> B (B's Flow input pulls A's RTMP-PULL output over the backbone) caches each GOP once:
B's input hub passes on A's units in place of the copies that crossed the link, and a player joining
B late still starts on a keyframe and decodes cleanly (issue 9)."""

from __future__ import annotations

import time
from typing import Any

from e2e_peers import Receiver, decode, publisher
from e2e_runtime_kit import Sdk, stop_all, wait_players, wait_until

from emulator.testing import EmulatorThread
from tests.kit.hubs import gop_of

SECONDS = 6


def test_chain_caches_each_gop_once_and_late_joiners_start_on_a_keyframe(
    ffmpeg_exe: str, tmp_path: Any
) -> None:
    with EmulatorThread() as emu:
        a, b, push_url, play_url = Sdk(emu).chain("Share", "RTMP-PUSH", "RTMP-PULL")
        wait_players(emu, {(a, "ToB"): 1})
        pub = publisher(ffmpeg_exe, push_url, SECONDS)
        rx: Receiver | None = None
        try:
            runtime = emu.em.runtime
            b_input = emu.run(lambda: runtime.live[b].inputs[0].hub)
            wait_until(lambda: emu.run(lambda: b_input.units_shared) > 20, 15, "B to share A's units")
            time.sleep(1.3)  # mid-GOP: the late joiner gets B's cache first
            rx = Receiver(ffmpeg_exe, play_url)

            def in_both() -> tuple[int, int] | None:
                """(units of B's GOP cache also in A's, of them A's own objects), once A's GOP cache
                and B's overlap (right after A restarts its cache they do not, for a link delay)."""
                a_units = {(u.timestamp_ms, u.size, u.kind): u for u in gop_of(runtime.live[a].hub)}
                both = [
                    (u, a_units[k])
                    for u in gop_of(runtime.live[b].hub)
                    if (k := (u.timestamp_ms, u.size, u.kind)) in a_units
                ]
                return (len(both), sum(1 for mine, theirs in both if mine is theirs)) if both else None

            overlap, same = wait_until(lambda: emu.run(in_both), 5, "A's and B's GOP caches to overlap")
            shared, fed = emu.run(lambda: (b_input.units_shared, b_input.counters.units_in))
            _, err = pub.communicate(timeout=SECONDS + 30)
            assert pub.returncode == 0, err.decode(errors="replace")
            got = rx.stop(settle_s=1.5)
        finally:
            stop_all(pub, *([rx.proc] if rx is not None else []))
    assert same == overlap, f"only {same} of the {overlap} units both caches hold are one object"
    # Not shared: the configs, and the tail of each GOP A had already left when its copy reached B.
    assert shared >= fed // 2, f"B shared {shared} of {fed} units"
    d = decode(got.data, str(tmp_path), "late")
    assert d.error == "", f"{d.error} ({got.stderr.strip()[-300:]})"
    assert d.errors == 0 and d.keyframe_first and d.frames > 0, d
