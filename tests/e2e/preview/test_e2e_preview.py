"""Preview, thumbnails and live stats of the admin API, from a real ffmpeg publishing over RTMP and SRT.

The preview is fragmented MP4 remuxed from the hub: it parses as ``ftyp`` / ``moov`` then ``moof`` /
``mdat``, PyAV decodes the published picture size from it, ``X-Codecs`` names what the publisher sent
(H.264 High 3.1 and AAC LC) and the stream ends when the flow stops. Thumbnails are JPEGs of the
published size, decoded at most once a second (the service's clock is the test's). Stats follow the
traffic. A preview that stops reading slows nobody: a real player of the same output gets every frame.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from preview_kit import (
    CODECS,
    HEIGHT,
    WIDTH,
    PreviewReader,
    boxes,
    decode_jpeg,
    decode_mp4,
    fragments,
    get,
    publishing,
    stats,
    wait_until,
)

from emulator import preview
from emulator.api import preview as preview_api
from emulator.api.preview import PREVIEW_KEY, PreviewService
from emulator.testing import EmulatorThread


def topology(family: str) -> dict[str, Any]:
    if family == "rtmp":
        inp, out = "RTMP-PUSH", "RTMP-PULL"
    else:
        inp, out = "SRT-Listener", "SRT-Listener"
    return {
        "flows": [
            {"name": "PV", "region": "ap-southeast-1", "status": "online",
             "input": {"name": "In", "protocol": inp}, "outputs": [{"name": "Out", "protocol": out}]},
        ]
    }  # fmt: skip


def service(emu: EmulatorThread) -> PreviewService:
    return emu.em.app[PREVIEW_KEY]


def flow_id(emu: EmulatorThread) -> str:
    return emu.run(lambda: emu.em.manager.flows[0].id)


def set_offline(emu: EmulatorThread, fid: str) -> None:
    emu.call(lambda: emu.em.manager.set_status(fid, "offline"))


def check_preview(reader: PreviewReader) -> None:
    assert reader.resp.status == 200
    assert reader.resp.getheader("Content-Type") == "video/mp4"
    assert reader.resp.getheader("Transfer-Encoding") == "chunked"
    assert reader.resp.getheader("X-Codecs") == CODECS
    data = reader.read_until("two fragments", lambda d: fragments(d) >= 2)
    kinds = [kind for kind, _ in boxes(data)]
    assert kinds[:2] == [b"ftyp", b"moov"], kinds
    assert kinds[2::2][:2] == [b"moof"] * 2 and kinds[3::2][:2] == [b"mdat"] * 2, kinds
    frames, width, height, audio = decode_mp4(data)
    assert frames >= 25 and (width, height) == (WIDTH, HEIGHT), (frames, width, height)
    assert audio > 0


@pytest.mark.parametrize("family", ["rtmp", "srt"])
def test_preview_thumbnail_and_stats_follow_a_real_publisher(ffmpeg_exe: str, family: str) -> None:
    with EmulatorThread(topology(family)) as emu:
        fid = flow_id(emu)
        svc = service(emu)
        clock = [1000.0]
        svc.clock = lambda: clock[0]  # thumbnails' once-a-second rule on the test's clock
        idle = stats(emu)["flows"][fid]
        assert idle["inputs"]["In"]["active"] is False and idle["inputs"]["In"]["bitrate_kbps"] == 0
        with publishing(ffmpeg_exe, emu.url("PV", "In")):
            wait_until("input active", lambda: stats(emu)["flows"][fid]["inputs"]["In"]["active"])
            for role, name in (("input", "In"), ("output", "Out")):
                reader = PreviewReader(emu, f"/_emulator/preview/{fid}/{role}/{name}.mp4")
                try:
                    check_preview(reader)
                finally:
                    reader.close()

            status, headers, jpeg = get(emu, f"/_emulator/thumbnail/{fid}/output/Out.jpg")
            assert status == 200 and headers["Content-Type"] == "image/jpeg"
            assert decode_jpeg(jpeg) == (WIDTH, HEIGHT)
            assert svc.thumbnail_decodes == 1
            status, headers, again = get(emu, f"/_emulator/thumbnail/{fid}/output/Out.jpg")
            assert status == 200 and again == jpeg and svc.thumbnail_decodes == 1  # within the second
            clock[0] += 1.5
            status, _headers, later = get(emu, f"/_emulator/thumbnail/{fid}/output/Out.jpg")
            assert status == 200 and decode_jpeg(later) == (WIDTH, HEIGHT) and svc.thumbnail_decodes == 2
            status, _headers, inp_jpeg = get(emu, f"/_emulator/thumbnail/{fid}/input/In.jpg")
            assert status == 200 and decode_jpeg(inp_jpeg) == (WIDTH, HEIGHT) and svc.thumbnail_decodes == 3

            def busy() -> dict[str, Any] | None:
                doc = stats(emu)["flows"][fid]
                i, o = doc["inputs"]["In"], doc["outputs"]["Out"]
                ready = i["bitrate_kbps"] > 0 and len(i["history_kbps"]) >= 3 and o["players"] == 1
                ready = ready and o["bitrate_kbps"] > 0
                return doc if ready else None

            # A player on the output (a preview is not a player), so the output moves bytes.
            reader = PreviewReader(emu, f"/_emulator/preview/{fid}/output/Out.mp4")
            player = _player(ffmpeg_exe, emu.url("PV", "Out"))
            try:
                doc = wait_until("bitrate, history and a player", busy)
            finally:
                player.kill()
                player.communicate()
            i, o = doc["inputs"]["In"], doc["outputs"]["Out"]
            assert i["bytes_in"] > 0 and o["bytes_out"] > 0 and o["connected"] is None
            if family == "srt":
                assert i["srt"] and all(c["rtt_ms"] > 0 and c["backbone"] is False for c in i["srt"])
                assert {"peer", "rtt_ms", "loss_total", "retransmitted_total"} <= set(i["srt"][0])
            else:
                assert i["srt"] == []
        # The publisher is gone: the bitrate falls to 0; the flow stops: the open preview ends.
        wait_until("bitrate 0", lambda: stats(emu)["flows"][fid]["inputs"]["In"]["bitrate_kbps"] == 0)
        try:
            reader.read_until("a fragment", lambda d: fragments(d) >= 1)
            set_offline(emu, fid)
            reader.read_to_end()  # returns: the stream ended
        finally:
            reader.close()
        doc = stats(emu)["flows"][fid]
        assert doc["online"] is False and doc["inputs"]["In"]["active"] is False


def _player(ffmpeg: str, url: str) -> Any:
    import subprocess

    return subprocess.Popen(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", url, "-c", "copy", "-f", "null", "-"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_errors_404_and_409() -> None:
    doc = topology("rtmp")
    doc["flows"].append({"name": "Off", "region": "ap-southeast-1",
                         "input": {"name": "In", "protocol": "RTMP-PUSH"}})  # fmt: skip
    with EmulatorThread(doc) as emu:
        fid, off = emu.run(lambda: [f.id for f in emu.em.manager.flows])
        service(emu).media_timeout_s = 0.5
        for path, status in [
            ("/_emulator/preview/nope/input/In.mp4", 404),
            (f"/_emulator/preview/{fid}/sideways/In.mp4", 404),
            (f"/_emulator/preview/{fid}/input/Nope.mp4", 404),
            (f"/_emulator/preview/{fid}/output/In.mp4", 404),
            (f"/_emulator/preview/{fid}/input/In.webm", 404),
            (f"/_emulator/thumbnail/{fid}/input/Nope.jpg", 404),
            (f"/_emulator/thumbnail/{fid}/input/In.png", 404),
            (f"/_emulator/preview/{off}/input/In.mp4", 409),
            (f"/_emulator/thumbnail/{off}/input/In.jpg", 409),
            (f"/_emulator/preview/{fid}/input/In.mp4", 409),  # online, nothing published
            (f"/_emulator/thumbnail/{fid}/output/Out.jpg", 409),
        ]:
            got, headers, body = get(emu, path)
            assert (got, headers["Content-Type"].split(";")[0]) == (status, "application/json"), (path, body)
            assert json.loads(body)["error"], path
        assert service(emu).thumbnail_decodes == 0
        assert not service(emu).sessions  # every subscription left


def test_a_preview_that_stops_reading_does_not_slow_a_player(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small buffers, so that the stalled preview overflows them within the test.
    monkeypatch.setattr(preview, "OUTPUT_CHUNKS_IN_FLIGHT", 2)
    monkeypatch.setattr(preview, "WORKER_QUEUE_UNITS", 16)
    monkeypatch.setattr(preview, "SUBSCRIPTION_QUEUE_BYTES", 64 * 1024)
    monkeypatch.setattr(preview_api, "PREVIEW_SNDBUF_BYTES", 8 * 1024)
    with EmulatorThread(topology("rtmp")) as emu:
        fid = flow_id(emu)
        with emu.start_signal(emu.url("PV", "In"), 40) as signal:
            wait_until("input active", lambda: stats(emu)["flows"][fid]["inputs"]["In"]["active"])
            # A preview that reads its headers and then nothing, with a tiny receive buffer.
            host, port = emu.endpoint.rsplit(":", 1)
            stalled = socket.create_connection((host, int(port)))
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            request = f"GET /_emulator/preview/{fid}/output/Out.mp4 HTTP/1.1\r\nHost: x\r\n\r\n"
            stalled.sendall(request.encode())
            sessions = list(wait_until("the stalled preview's session", lambda: service(emu).sessions))
            try:
                result = emu.probe(emu.url("PV", "Out"), 6)
                # The preview, not the player, loses what it does not read.
                wait_until("the stalled preview to drop", lambda: sum(s.dropped for s in sessions) > 0)
            finally:
                stalled.close()
            signal.stop()  # 40 s is an upper bound for the steps above, not a length to wait out
        assert result.error is None, result.error
        assert result.frames_numbered >= 50, result
        assert (result.lost, result.duplicated, result.out_of_order) == (0, 0, 0), result


def test_routes_need_a_signature_with_access_keys() -> None:
    from tests.e2e.api.admin_client import admin_call

    key = ("AKPREVIEW", "preview-secret")
    doc = {"access_keys": {key[0]: key[1]}, **topology("rtmp")}
    with EmulatorThread(doc) as emu:
        fid = flow_id(emu)
        for path in ("/_emulator/stats", f"/_emulator/preview/{fid}/input/In.mp4",
                     f"/_emulator/thumbnail/{fid}/input/In.jpg"):  # fmt: skip
            status, _headers, body = get(emu, path)
            assert status in (400, 401, 403) and b"Signature" in body, (path, status, body)
        signed = admin_call(emu.api_url, "GET", "/_emulator/stats", key=key)
        assert signed.status == 200 and fid in signed.body["flows"]


def test_stats_sample_only_while_someone_asks() -> None:
    with EmulatorThread(topology("rtmp")) as emu:
        live = service(emu).stats
        clock = [0.0]
        live._clock = lambda: clock[0]  # the 30 s watch on the test's clock
        assert not live.running and live.samples == 0
        stats(emu)
        assert live.running
        wait_until("a few samples", lambda: live.samples >= 3)
        clock[0] += 31.0  # nobody asked for 31 s
        wait_until("the sampler to stop", lambda: not live.running)
        taken = live.samples
        stats(emu)  # asked again: it runs again
        assert live.running and live.samples == taken + 1
