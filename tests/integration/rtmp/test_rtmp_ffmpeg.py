"""RTMP server, puller and pusher against the real ffmpeg (and PyAV for HEVC over enhanced RTMP)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

import pytest
from rtmp_peers import (
    Peer,
    analyse_flv,
    decode_errors,
    free_port,
    play_args,
    publish_args,
    pyav_hevc_publish_args,
    wait_until,
)

from mediaplane.relay import HubUnit, OpenRouter, StreamPath, UnitKind
from mediaplane.rtmp import RtmpClientConfig, RtmpPuller, RtmpPusher, RtmpServer, RtmpServerConfig

pytestmark = pytest.mark.ffmpeg

FAST_CLIENT = RtmpClientConfig(backoff_initial_s=0.1, backoff_max_s=0.5, seed=3)


def players(server: RtmpServer) -> int:
    return sum(1 for s in server.sessions if s.role == "play")


def publishers(server: RtmpServer) -> int:
    return sum(1 for s in server.sessions if s.role == "publish")


async def test_early_player_gets_every_frame_and_late_player_starts_on_a_keyframe(
    ffmpeg_exe: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mediaplane.rtmp.server")
    router = OpenRouter()
    observer = router.hub(StreamPath(app="live", key="fanout")).subscribe("observer", max_queue_bytes=1 << 30)
    async with RtmpServer(router, port=0) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/fanout"
        early = await Peer("early", play_args(ffmpeg_exe, url, tmp_path / "early.flv"), tmp_path).start()
        late: Peer | None = None
        publisher = Peer(
            "publisher", publish_args(ffmpeg_exe, url, 12, tee_copy=tmp_path / "sent.flv"), tmp_path
        )
        try:
            await wait_until(lambda: players(server) == 1, 30, "the early player", why=early.log)
            await publisher.start()
            await wait_until(lambda: publishers(server) == 1, 30, "the publisher", why=publisher.log)
            await asyncio.sleep(6)
            late = await Peer("late", play_args(ffmpeg_exe, url, tmp_path / "late.flv"), tmp_path).start()
            await publisher.expect_success(60)
            await early.expect_success(60)
            await late.expect_success(60)
        finally:
            for peer in (early, late, publisher):
                if peer is not None:
                    await peer.aclose()

    # ffmpeg speaks the digest (FP9) handshake, and its players verify our S1 digest and S2 signature.
    assert caplog.text.count("handshake done (digest)") == 3
    sent = analyse_flv(tmp_path / "sent.flv")
    got = analyse_flv(tmp_path / "early.flv")
    assert len(sent.video_dts) >= 250, f"publisher sent only {len(sent.video_dts)} frames"

    def rebase(ts: list[int]) -> list[int]:  # both files start at their first packet
        return [t - ts[0] for t in ts]

    assert rebase(got.video_dts) == rebase(sent.video_dts)
    # Audio: ffmpeg's file copy and its RTMP copy differ by the encoder's priming frame, so the reference
    # is what crossed the wire, recorded by a subscriber that was in place before the publisher.
    wire_audio = [
        u.timestamp_ms
        for u in iter(observer.get_nowait, None)
        if isinstance(u, HubUnit) and u.payload.type_id == 8 and u.kind is not UnitKind.AUDIO_CONFIG
    ]
    assert len(wire_audio) >= 500
    assert rebase(got.audio_dts) == [t - wire_audio[0] for t in wire_audio]
    assert got.video_keyframes == sent.video_keyframes

    late_report = analyse_flv(tmp_path / "late.flv")
    assert 50 <= len(late_report.video_dts) < len(sent.video_dts)
    assert late_report.video_keyframes[0], "the late player's first video frame is not a keyframe"
    assert late_report.duplicate_video_dts == 0 and late_report.video_monotonic
    assert late_report.decoded_frames == len(late_report.video_dts)
    assert await decode_errors(ffmpeg_exe, tmp_path / "late.flv", tmp_path) == ""
    assert await decode_errors(ffmpeg_exe, tmp_path / "early.flv", tmp_path) == ""


async def test_timestamps_crossing_24_bits_stay_monotonic(ffmpeg_exe: str, tmp_path: Path) -> None:
    router = OpenRouter()
    path = StreamPath(app="live", key="wrap")
    async with RtmpServer(router, port=0) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/wrap"
        sub = router.hub(path).subscribe("observer", max_queue_bytes=64 * 1024 * 1024)
        player = await Peer(
            "player", play_args(ffmpeg_exe, url, tmp_path / "wrap.flv", copyts=True), tmp_path
        ).start()
        publisher = Peer("publisher", publish_args(ffmpeg_exe, url, 10, ts_offset_s=16770), tmp_path)
        try:
            await wait_until(lambda: players(server) == 1, 30, "the player", why=player.log)
            await publisher.start()
            await publisher.expect_success(60)
            await player.expect_success(60)
        finally:
            await player.aclose()
            await publisher.aclose()
    video = []
    while (item := sub.get_nowait()) is not None:
        # Coded video frames only (AVCPacketType 1): not sequence headers nor the end-of-sequence marker.
        if isinstance(item, HubUnit) and item.payload.type_id == 9 and item.payload.payload[1:2] == b"\x01":
            video.append(item.timestamp_ms)
    assert video[0] < 0xFFFFFF < video[-1], (video[0], video[-1])
    assert all(b > a for a, b in itertools.pairwise(video)), "hub timestamps went backwards"
    report = analyse_flv(tmp_path / "wrap.flv")
    assert report.video_monotonic and report.duplicate_video_dts == 0
    assert report.video_dts[0] < 0xFFFFFF < report.video_dts[-1]
    assert await decode_errors(ffmpeg_exe, tmp_path / "wrap.flv", tmp_path) == ""


async def test_puller_pulls_from_ffmpeg_listen_into_a_hub(ffmpeg_exe: str, tmp_path: Path) -> None:
    router = OpenRouter()
    remote_port = free_port()
    remote = f"rtmp://127.0.0.1:{remote_port}/live/source"
    source = await Peer("source", publish_args(ffmpeg_exe, remote, 8, listen=True), tmp_path).start()
    try:
        async with RtmpServer(router, port=0) as server:
            hub = router.hub(StreamPath(app="live", key="pulled"))
            url = f"rtmp://127.0.0.1:{server.port}/live/pulled"
            player = await Peer(
                "player", play_args(ffmpeg_exe, url, tmp_path / "pulled.flv"), tmp_path
            ).start()
            async with RtmpPuller(remote, hub, config=FAST_CLIENT) as puller:
                await wait_until(
                    lambda: puller.connected, 30, "the puller", why=lambda: puller.last_error + source.log()
                )
                await source.expect_success(60)
                await wait_until(lambda: not hub.has_publisher, 30, "the puller to release the hub")
            await wait_until(
                lambda: player.proc is not None and player.proc.returncode is not None,
                30,
                "the player to finish",
                why=player.log,
            )
            await player.aclose()
            assert puller.messages > 250 and puller.sessions_started >= 1
    finally:
        await source.aclose()
    report = analyse_flv(tmp_path / "pulled.flv")
    assert report.video_codec == "h264" and report.video_keyframes[0]
    assert len(report.video_dts) >= 150 and report.duplicate_video_dts == 0
    assert await decode_errors(ffmpeg_exe, tmp_path / "pulled.flv", tmp_path) == ""


async def test_pusher_pushes_a_hub_to_ffmpeg_listen(ffmpeg_exe: str, tmp_path: Path) -> None:
    router = OpenRouter()
    remote_port = free_port()
    remote = f"rtmp://127.0.0.1:{remote_port}/live/sink"
    sink = await Peer(
        "sink", play_args(ffmpeg_exe, remote, tmp_path / "pushed.flv", listen=True), tmp_path
    ).start()
    try:
        async with RtmpServer(router, port=0) as server:
            hub = router.hub(StreamPath(app="live", key="out"))
            url = f"rtmp://127.0.0.1:{server.port}/live/out"
            publisher = await Peer("publisher", publish_args(ffmpeg_exe, url, 8), tmp_path).start()
            async with RtmpPusher(remote, hub, config=FAST_CLIENT) as pusher:
                await wait_until(
                    lambda: pusher.connected, 30, "the pusher", why=lambda: pusher.last_error + sink.log()
                )
                await publisher.expect_success(60)
                await asyncio.sleep(0.5)
            assert pusher.messages > 250
        await sink.expect_success(60)
    finally:
        await sink.aclose()
    report = analyse_flv(tmp_path / "pushed.flv")
    assert report.video_codec == "h264" and report.video_keyframes[0]
    assert len(report.video_dts) >= 150 and report.duplicate_video_dts == 0 and report.video_monotonic
    assert await decode_errors(ffmpeg_exe, tmp_path / "pushed.flv", tmp_path) == ""


async def test_pyav_publishes_hevc_over_enhanced_rtmp_and_a_late_player_decodes_it(
    ffmpeg_exe: str, tmp_path: Path
) -> None:
    router = OpenRouter()
    path = StreamPath(app="live", key="hevc")
    async with RtmpServer(router, port=0, config=RtmpServerConfig(unpublish_grace_s=1)) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/hevc"
        sub = router.hub(path).subscribe("observer", max_queue_bytes=64 * 1024 * 1024)
        publisher = await Peer("pyav-hevc", pyav_hevc_publish_args(url, 250), tmp_path).start()
        player: Peer | None = None
        try:
            await wait_until(lambda: publishers(server) == 1, 30, "the PyAV publisher", why=publisher.log)
            await asyncio.sleep(3)
            player = await Peer("late", play_args(ffmpeg_exe, url, tmp_path / "hevc.flv"), tmp_path).start()
            await publisher.expect_success(60)
            await player.expect_success(60)
        finally:
            await publisher.aclose()
            if player is not None:
                await player.aclose()
    config = next(
        u for u in iter(sub.get_nowait, None) if isinstance(u, HubUnit) and u.kind is UnitKind.VIDEO_CONFIG
    )
    first = config.payload.payload
    assert first[0] & 0x80 and first[1:5] == b"hvc1", f"not an enhanced-RTMP HEVC header: {first[:5]!r}"
    report = analyse_flv(tmp_path / "hevc.flv")
    assert report.video_codec == "hevc" and report.video_keyframes[0]
    assert 100 <= len(report.video_dts) < 250 and report.duplicate_video_dts == 0
    assert report.decoded_frames == len(report.video_dts)
    assert await decode_errors(ffmpeg_exe, tmp_path / "hevc.flv", tmp_path) == ""
