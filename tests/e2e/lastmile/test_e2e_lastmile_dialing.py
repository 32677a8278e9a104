"""Last mile on dialing endpoints: the flow's own client connects through a link toward the remote.

1. RTMP-PUSH output with a ``from_region`` delay set before the flow goes online: a real ffmpeg listening
   as the remote receives a decodable stream, and every byte it got crossed the last-mile link (its
   forward direction, region -> remote, carried them with the delay in force).
2. Set and cleared while online: an RTMP-PUSH output pushing into another flow's RTMP-PUSH input (an
   RTMP server that takes reconnections) moves through a new link when the impairment is set, and
   back to the remote directly when it is cleared (the link is gone); the far flow keeps receiving.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import pytest
from lastmile_kit import (
    A_REGION,
    Receiver,
    Sdk,
    admin,
    decode,
    free_port,
    lastmile_row,
    publisher,
    snapshot,
    wait_until,
)

from emulator.testing import EmulatorThread

SEND_S = 6.0


def test_rtmp_push_output_from_region_delay_goes_through_the_link(ffmpeg_exe: str) -> None:
    remote = f"rtmp://127.0.0.1:{free_port()}/live/remote"
    rx = Receiver(ffmpeg_exe, remote, listen=True)
    try:
        with EmulatorThread() as emu:
            sdk = Sdk(emu)
            f = sdk.flow("LastMilePush", A_REGION)
            in_url = sdk.input(f, "In", "RTMP-PUSH")
            sdk.output(f, "Out", "RTMP-PUSH", output_to_url=remote)
            status, row = admin(emu.api_url, "PUT", f"/_emulator/lastmile/{f}/output/Out",
                                {"from_region": {"delay_ms": 80}})  # fmt: skip
            assert status == 200, row
            assert row["listening"] is False and row["impaired_url"] is None
            sdk.status(f, "online")
            pub = publisher(ffmpeg_exe, in_url, SEND_S)
            try:
                wait_until(lambda: rx.bytes_received > 50_000, 20, "the remote received media")
                row = lastmile_row(emu.api_url, f, "output", "Out")
            finally:
                pub.kill()
                pub.wait(10)
            received = rx.stop()
    finally:
        if rx.proc.poll() is None:
            rx.proc.kill()
    assert row is not None and row["link"] is not None
    stats = row["link"]["stats"]
    print(f"link: {row['link']['name']} {row['link']['address']}: {stats}")
    assert row["link"]["address"].startswith("127.0.0.1:")
    assert stats["connections_total"] == 1
    assert stats["forward"]["bytes_delivered"] >= 50_000
    with tempfile.TemporaryDirectory() as tmp:
        d = decode(received.data, tmp, "remote")
    assert not d.error and d.frames > 0, d


def through_a_link_and_back(
    emu: EmulatorThread,
    flow: str,
    kind: str,
    body: dict[str, Any],
    direction: str,
    far_bytes: Callable[[], int],
) -> dict[str, Any]:
    """``flow``'s dialing ``kind`` endpoint carries media straight to the remote (``far_bytes`` grows), goes
    through a new last-mile link once ``body`` is set (the link's ``direction`` carries the media), and
    straight back once it is cleared (the link is gone). Returns the endpoint's row while linked."""
    api = emu.api_url
    name = "Out" if kind == "output" else "In"
    path = f"/_emulator/lastmile/{flow}/{kind}/{name}"
    wait_until(lambda: far_bytes() > 20_000, 20, f"the {kind}'s media arriving directly")
    status, row = admin(api, "PUT", path, body)
    assert status == 200 and row["listening"] is False, row

    def through_link() -> bool:
        r = lastmile_row(api, flow, kind, name)
        return bool(r and r["link"] and r["link"]["stats"][direction]["bytes_delivered"] > 20_000)

    wait_until(through_link, 20, f"the {kind} dialing through the new link")
    linked = lastmile_row(api, flow, kind, name)
    assert linked is not None
    status, view = admin(api, "DELETE", path)
    assert status == 200 and view["endpoints"] == [], view
    assert emu.run(lambda: emu.em.runtime.lastmile.link(flow, kind, name)) is None
    after_clear = far_bytes()
    wait_until(lambda: far_bytes() > after_clear + 20_000, 20, f"the {kind}'s media arriving directly again")
    return linked


def input_bytes(emu: EmulatorThread, flow: str) -> Callable[[], int]:
    return lambda: int(snapshot(emu)["live_flows"][flow]["inputs"]["In"]["bytes_in"])


def test_dialing_output_set_and_clear_while_online(ffmpeg_exe: str) -> None:
    with EmulatorThread() as emu:
        sdk = Sdk(emu)
        far = sdk.flow("Far", A_REGION)
        far_in = sdk.input(far, "In", "RTMP-PUSH")
        sdk.output(far, "Out", "RTMP-PULL")
        near = sdk.flow("Near", A_REGION)
        near_in = sdk.input(near, "In", "RTMP-PUSH")
        sdk.output(near, "Out", "RTMP-PUSH", output_to_url=far_in)
        sdk.status(far, "online")
        sdk.status(near, "online")
        pub = publisher(ffmpeg_exe, near_in, 15.0)
        try:
            # A bare impairment is both directions; from_region (region -> remote) carries the push.
            row = through_a_link_and_back(
                emu, near, "output", {"delay_ms": 30}, "forward", input_bytes(emu, far)
            )
            assert row["to_region"]["delay_ms"] == 30 and row["from_region"]["delay_ms"] == 30
        finally:
            pub.kill()
            pub.wait(10)


@pytest.mark.parametrize(("in_proto", "out_proto", "pull_proto"), [
    ("RTMP-PUSH", "RTMP-PULL", "RTMP-PULL"),
    ("SRT-Listener", "SRT-Listener", "SRT-Caller"),
])  # fmt: skip
def test_dialing_input_set_and_clear_while_online(
    ffmpeg_exe: str, in_proto: str, out_proto: str, pull_proto: str
) -> None:
    """An RTMP-PULL / SRT-Caller input pulling from another flow's output (a server that takes
    reconnections) restarts through a new link when set live, and straight back when cleared."""
    with EmulatorThread() as emu:
        sdk = Sdk(emu)
        src = sdk.flow("Src", A_REGION)
        src_in = sdk.input(src, "In", in_proto)
        src_out = sdk.output(src, "Out", out_proto)
        dst = sdk.flow("Dst", A_REGION)
        sdk.input(dst, "In", pull_proto, input_from_url=src_out)
        sdk.status(src, "online")
        sdk.status(dst, "online")
        pub = publisher(ffmpeg_exe, src_in, 15.0)
        try:
            # to_region is the remote -> region direction: the link's reverse for a dialing input.
            through_a_link_and_back(
                emu, dst, "input", {"to_region": {"delay_ms": 40}}, "reverse", input_bytes(emu, dst)
            )
        finally:
            pub.kill()
            pub.wait(10)
