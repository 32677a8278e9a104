"""RTMP server and clients over real 127.0.0.1 sockets with our own peers: routing refusals, busy keys,
the unpublish grace period, close_path, backpressure on a player that stops reading, reconnects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from rtmp_peers import SessionClient, free_port, publish_synthetic, wait_until

from mediaplane.relay import Hub, HubUnit, OpenRouter, Peer, Refused, StreamPath, Subscription, UnitKind
from mediaplane.rtmp import (
    ConnectionClosed,
    RtmpClientConfig,
    RtmpPuller,
    RtmpPusher,
    RtmpServer,
    RtmpServerConfig,
)
from mediaplane.rtmp.synthetic import synthetic_stream


class RefusingRouter:
    """A router that refuses everything with the given code (what a control plane does on Cidrs)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def route_publish(self, path: StreamPath, peer: Peer) -> Hub:
        raise Refused(f"{peer[0]} may not publish {path}", code=self.code)

    def route_play(self, path: StreamPath, peer: Peer) -> Subscription:
        raise Refused(f"{peer[0]} may not play {path}", code=self.code)


def closed_reason(client: SessionClient) -> str:
    return next((e.reason for e in client.events if isinstance(e, ConnectionClosed)), "")


@pytest.mark.parametrize("code", ["forbidden", "not_found", "busy"])
async def test_router_refusals_map_to_status_codes(code: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mediaplane.rtmp")
    async with RtmpServer(RefusingRouter(code), port=0) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/k"
        pub = await SessionClient(url, "publish").connect()
        await pub.pump_until(lambda: pub.session.closed, 10, "the publish refusal")
        assert closed_reason(pub) == "NetStream.Publish.BadName: 127.0.0.1 may not publish live/k"
        play = await SessionClient(url, "play").connect()
        await play.pump_until(lambda: play.session.closed, 10, "the play refusal")
        assert closed_reason(play) == "NetStream.Play.StreamNotFound: 127.0.0.1 may not play live/k"
        await wait_until(lambda: not server.sessions, 10, "the server to drop refused sessions")
        await pub.close()
        await play.close()
    assert "publish refused: 127.0.0.1 may not publish live/k" in caplog.text


async def test_second_publisher_is_refused_while_the_first_keeps_flowing() -> None:
    router = OpenRouter()
    async with RtmpServer(router, port=0) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/busy"
        first = asyncio.create_task(publish_synthetic(url, bitrate_bps=1_000_000, seconds=3))
        player = await SessionClient(url, "play").connect()
        await player.pump_until(lambda: len(player.media) > 20, 20, "media from the first publisher")
        second = await SessionClient(url, "publish").connect()
        await second.pump_until(lambda: second.session.closed, 10, "the busy refusal")
        assert closed_reason(second).startswith(
            "NetStream.Publish.BadName: live/busy is already being published"
        )
        before = len(player.media)
        await player.pump_until(lambda: len(player.media) > before + 20, 20, "media still flowing")
        await first
        await player.close()
        await second.close()


async def test_players_wait_out_the_grace_period_and_resume_with_a_returning_publisher() -> None:
    router = OpenRouter()
    config = RtmpServerConfig(unpublish_grace_s=2.0)
    async with RtmpServer(router, port=0, config=config) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/grace"
        player = await SessionClient(url, "play").connect()
        await player.pump_until(lambda: "NetStream.Play.Start" in player.codes(), 10, "Play.Start")
        await publish_synthetic(url, bitrate_bps=500_000, seconds=1.0)
        await player.pump_until(
            lambda: "NetStream.Play.UnpublishNotify" in player.codes(), 10, "UnpublishNotify"
        )
        first_run = len(player.media)
        assert first_run > 20 and not player.session.closed
        # A publisher returning within the grace period resumes the same player connection.
        await publish_synthetic(url, bitrate_bps=500_000, seconds=1.0)
        await player.pump_until(
            lambda: player.codes().count("NetStream.Play.UnpublishNotify") == 2, 10, "the 2nd end"
        )
        assert "NetStream.Play.PublishNotify" in player.codes()
        assert len(player.media) > first_run + 20
        # Nobody returns now: the server closes the player after the grace period.
        loop = asyncio.get_running_loop()
        start = loop.time()
        await player.pump_until(lambda: player.eof, 15, "the server to close the player")
        assert loop.time() - start >= 1.5
        await player.close()
        assert not server.sessions


async def test_close_path_closes_publisher_and_players_of_that_path_only() -> None:
    router = OpenRouter()
    async with RtmpServer(router, port=0) as server:
        base = f"rtmp://127.0.0.1:{server.port}/live"
        a = asyncio.create_task(publish_synthetic(f"{base}/a", bitrate_bps=500_000, seconds=4))
        b = asyncio.create_task(publish_synthetic(f"{base}/b", bitrate_bps=500_000, seconds=4))
        pa = await SessionClient(f"{base}/a", "play").connect()
        pb = await SessionClient(f"{base}/b", "play").connect()
        await pa.pump_until(lambda: len(pa.media) > 5, 20, "media on a")
        await pb.pump_until(lambda: len(pb.media) > 5, 20, "media on b")
        closed = server.close_path(StreamPath(app="live", key="a"), "flow went offline")
        assert closed == 2
        await pa.pump_until(lambda: pa.eof, 10, "a's player to be closed")
        n = len(pb.media)
        await pb.pump_until(lambda: len(pb.media) > n + 10, 10, "b to keep flowing")
        for task in (a, b):
            task.cancel()
        await asyncio.gather(a, b, return_exceptions=True)
        await pa.close()
        await pb.close()


async def test_player_that_stops_reading_is_bounded_then_closed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mediaplane.rtmp")
    router = OpenRouter()
    config = RtmpServerConfig(
        player_max_queue_bytes=1024 * 1024, write_buffer_high_bytes=64 * 1024, send_stall_timeout_s=4.0
    )
    async with RtmpServer(router, port=0, config=config) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/slow"
        good = await SessionClient(url, "play").connect()
        stuck = await SessionClient(url, "play", rcvbuf=4096, reader_limit=1024).connect()

        async def started() -> None:
            await good.pump_until(lambda: "NetStream.Play.Start" in good.codes(), 10, "good Play.Start")
            await stuck.pump_until(lambda: "NetStream.Play.Start" in stuck.codes(), 10, "stuck Play.Start")

        await started()
        good_conn = next(c for c in server.sessions if c.peer[1] == good.local_port)
        stuck_conn = next(c for c in server.sessions if c.peer[1] == stuck.local_port)
        publisher = asyncio.create_task(publish_synthetic(url, bitrate_bps=8_000_000, seconds=8))
        # The stuck player never reads again; the good one must keep receiving everything.
        max_queued = 0
        stuck_skips = 0

        def stuck_closed() -> bool:
            nonlocal max_queued, stuck_skips
            if stuck_conn.subscription is not None:
                max_queued = max(max_queued, stuck_conn.subscription.queued_bytes)
                stuck_skips = stuck_conn.subscription.skips
            return stuck_conn.close_reason != ""

        await asyncio.gather(
            good.pump_until(lambda: len(good.media) > 150, 30, "the good player's media"),
            wait_until(stuck_closed, 30, "the stuck player to be closed"),
        )
        assert stuck_conn.close_reason == "player stopped reading"
        assert good_conn.subscription is not None and good_conn.subscription.skips == 0
        assert max_queued <= 1024 * 1024 + 400 * 1024  # the cap plus at most one keyframe and configs
        assert stuck_skips >= 1, "the stuck player never skipped to a keyframe"
        await publisher
        await good.pump_until(lambda: "NetStream.Play.UnpublishNotify" in good.codes(), 10, "the end")
        video = [m.timestamp for m in good.media if m.type_id == 9 and m.kind.name in ("KEYFRAME", "FRAME")]
        assert len(video) >= 190 and video == sorted(video) and len(set(video)) == len(video)
        await good.close()
        await stuck.close()
    assert "closing: player stopped reading" in caplog.text


async def test_pusher_and_puller_reconnect_with_backoff_and_bind_a_local_address() -> None:
    port = free_port()
    config = RtmpClientConfig(backoff_initial_s=0.1, backoff_max_s=0.4, seed=1)
    source = Hub("source")
    source.claim(object())
    target = Hub("target")
    pusher = RtmpPusher(f"rtmp://127.0.0.1:{port}/live/x", source, config=config, local_addr=("127.0.0.2", 0))
    puller = RtmpPuller(f"rtmp://127.0.0.1:{port}/live/x", target, config=config)
    async with pusher, puller:
        await wait_until(lambda: pusher.attempts >= 3 and puller.attempts >= 3, 10, "failed attempts")
        assert not pusher.connected and not puller.connected
        router = OpenRouter()
        async with RtmpServer(router, port=port) as server:
            await wait_until(lambda: pusher.connected and puller.connected, 10, "both to connect")
            peers = {c.role: c.peer[0] for c in server.sessions}
            assert peers == {"publish": "127.0.0.2", "play": "127.0.0.1"}
        await wait_until(lambda: not pusher.connected and not puller.connected, 10, "both to notice")
        async with RtmpServer(router, port=port):
            await wait_until(lambda: pusher.connected and puller.connected, 10, "both to reconnect")
        assert pusher.sessions_started == 2 and puller.sessions_started == 2
    assert not pusher.connected and not puller.connected


async def test_silent_publisher_is_closed_after_the_idle_timeout(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mediaplane.rtmp")
    async with RtmpServer(OpenRouter(), port=0, config=RtmpServerConfig(idle_timeout_s=1.0)) as server:
        pub = await SessionClient(f"rtmp://127.0.0.1:{server.port}/live/idle", "publish").connect()
        await pub.pump_until(lambda: "NetStream.Publish.Start" in pub.codes(), 10, "Publish.Start")
        await pub.pump_until(lambda: pub.eof, 10, "the idle publisher to be closed")
        await pub.close()
    assert "closing: idle for" in caplog.text


async def test_pusher_mirrors_its_source_leaving_and_returning() -> None:
    router = OpenRouter()
    source = Hub("source")
    owner = object()
    async with RtmpServer(router, port=0, config=RtmpServerConfig(unpublish_grace_s=10)) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/mirror"
        player = await SessionClient(url, "play").connect()
        await player.pump_until(lambda: "NetStream.Play.Start" in player.codes(), 10, "Play.Start")

        def unpublished(times: int) -> Callable[[], bool]:
            return lambda: player.codes().count("NetStream.Play.UnpublishNotify") == times

        config = RtmpClientConfig(backoff_initial_s=0.05, backoff_max_s=0.2, seed=4)
        async with RtmpPusher(url, source, config=config) as pusher:
            for round_ in range(2):
                source.claim(owner)
                await wait_until(lambda: pusher.connected, 10, "the pusher to publish")
                stream = synthetic_stream(bitrate_bps=500_000)
                for _ in range(60):
                    m = next(stream)
                    source.feed(
                        HubUnit(
                            kind=UnitKind(m.kind), timestamp_ms=m.timestamp, size=len(m.payload), payload=m
                        )
                    )
                    await asyncio.sleep(0.005)
                source.release(owner)
                await player.pump_until(unpublished(round_ + 1), 10, "unpublish")
            assert pusher.sessions_started == 2
        assert "NetStream.Play.PublishNotify" in player.codes()
        assert len(player.media) >= 100
        await player.close()
