"""Listener and caller adapters on real sockets: reconnect, local_addr with Cidrs, busy paths, timeouts."""

from __future__ import annotations

import asyncio

import pytest

from mediaplane.relay.hub import Hub, HubUnit, UnitKind
from mediaplane.relay.routing import OpenRouter, Refused, StreamPath
from mediaplane.srt import (
    ConnectionRejected,
    ConnectTimeout,
    SrtCaller,
    SrtConfig,
    SrtDirection,
    SrtListener,
    parse_srt_url,
)


def unit(i: int) -> HubUnit:
    payload = bytes([0x47]) + i.to_bytes(4, "big") * 328 + b"\x00\x00\x00"
    return HubUnit(kind=UnitKind.FRAME, timestamp_ms=0, size=len(payload), payload=payload)


async def wait_for(cond: object, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if cond():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never met")


def collect(player: SrtCaller, into: list[bytes]) -> asyncio.Task[None]:
    """A task appending every payload ``player`` receives to ``into``; it ends with the connection."""

    async def read() -> None:
        async for p in player.payloads():
            into.append(p)

    return asyncio.create_task(read())


def publisher_to_live(port: int, hub_name: str, local_addr: tuple[str, int] | None = None) -> SrtCaller:
    """A caller publishing a hub of its own to stream id ``live`` on the listener at ``port``."""
    return SrtCaller(
        "127.0.0.1",
        port,
        config=SrtConfig(streamid="live"),
        hub=Hub(hub_name, cache_gop=False),
        direction=SrtDirection.PUBLISH,
        local_addr=local_addr,
    )


async def test_publish_then_play_through_one_listener_and_reconnect() -> None:
    router = OpenRouter(cache_gop=False)
    async with SrtListener(router, port=0) as listener:
        src = Hub("src", cache_gop=False)
        src.claim("test")
        publisher = SrtCaller(
            "127.0.0.1",
            listener.port,
            config=SrtConfig(streamid="#!::r=cam,m=publish"),
            hub=src,
            direction=SrtDirection.PUBLISH,
            reconnect=True,
            max_backoff_s=0.5,
        )
        player = SrtCaller("127.0.0.1", listener.port, config=SrtConfig(streamid="#!::r=cam"))
        async with publisher, player:
            await publisher.wait_connected(5)
            got: list[bytes] = []
            reader = collect(player, got)
            await wait_for(lambda: len(listener.connections) == 2)
            for i in range(50):
                src.feed(unit(i))
            await wait_for(lambda: len(got) == 50)
            # The server kicks the publisher; it comes back by itself and the stream goes on.
            assert listener.close_path(StreamPath(app="", key="cam")) == 2
            await wait_for(lambda: publisher.connections_made == 2 and publisher.connected)
            assert reader.done()  # the player had no reconnect: its payloads() ended
            assert player.connection is not None and player.connection.closed
            reader.cancel()
    assert [int.from_bytes(p[1:5], "big") for p in got] == list(range(50))


async def test_local_addr_and_cidrs_and_busy_path() -> None:
    router = OpenRouter(cache_gop=False, cidrs="127.0.0.2/32")
    async with SrtListener(router, host="0.0.0.0", port=0, direction=SrtDirection.PUBLISH) as listener:
        outsider = publisher_to_live(listener.port, "a")
        with pytest.raises(ConnectionRejected) as info:
            await outsider.start()
        assert info.value.reason == 1403
        first = publisher_to_live(listener.port, "b", local_addr=("127.0.0.2", 0))
        async with first:
            assert listener.connections[0].peer[0] == "127.0.0.2"
            second = publisher_to_live(listener.port, "c", local_addr=("127.0.0.2", 0))
            with pytest.raises(ConnectionRejected) as busy:
                await second.start()
            assert busy.value.reason == 1409


class FussyRouter(OpenRouter):
    def route_play(self, path: StreamPath, peer: tuple[str, int]):  # type: ignore[no-untyped-def]
        if path.key == "missing":
            raise Refused("no such flow", code="not_found")
        if path.key == "offline":
            raise Refused("flow offline", code="unavailable")
        return super().route_play(path, peer)


@pytest.mark.parametrize(("key", "code"), [("missing", 1404), ("offline", 1503)])
async def test_router_refusals_map_to_reject_codes(key: str, code: int) -> None:
    async with SrtListener(FussyRouter(cache_gop=False), port=0, direction=SrtDirection.PLAY) as listener:
        caller = SrtCaller("127.0.0.1", listener.port, config=SrtConfig(streamid=key))
        with pytest.raises(ConnectionRejected) as info:
            await caller.start()
        assert info.value.reason == code


async def test_connect_timeout_and_url_config(unused_udp_port: int) -> None:
    _, port, config, _ = parse_srt_url(f"srt://127.0.0.1:{unused_udp_port}?connect_timeout=600&latency=50000")
    caller = SrtCaller("127.0.0.1", port, config=config)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(ConnectTimeout):
        await caller.start()
    assert 0.5 < loop.time() - start < 5


async def test_reconnecting_caller_waits_for_a_late_listener(unused_udp_port: int) -> None:
    hub = Hub("src", cache_gop=False)
    caller = SrtCaller(
        "127.0.0.1",
        unused_udp_port,
        config=SrtConfig(connect_timeout_ms=200, streamid="late"),
        hub=hub,
        direction=SrtDirection.PUBLISH,
        reconnect=True,
        max_backoff_s=0.4,
    )
    async with caller:
        await asyncio.sleep(1.5)
        assert not caller.connected
        assert isinstance(caller.last_error, ConnectTimeout)
        async with SrtListener(
            OpenRouter(cache_gop=False), port=unused_udp_port, direction=SrtDirection.PUBLISH
        ) as listener:
            await caller.wait_connected(5)
            assert len(listener.connections) == 1 and listener.connections[0].path.key == "late"


async def test_forbidden_player_resumes_on_a_keyframe(srt_clip: tuple[object, bytes]) -> None:
    from srt_media import feed_paced

    from mediaplane.srt.mpegts import ts_unit_kind

    _, data = srt_clip
    units = [data[i : i + 1316] for i in range(0, len(data), 1316)]
    router = OpenRouter(cache_gop=False)
    hub = router.hub(StreamPath(app="", key="cam"))
    hub.claim("test")
    async with SrtListener(router, port=0, direction=SrtDirection.PLAY) as listener:
        player = SrtCaller("127.0.0.1", listener.port, config=SrtConfig(streamid="cam"))
        async with player:
            got: list[bytes] = []
            reader = collect(player, got)
            await wait_for(lambda: len(listener.connections) == 1)
            sub = listener.connections[0].subscription
            assert sub is not None
            feeding = asyncio.create_task(feed_paced(hub, data, 3.0))
            await asyncio.sleep(0.6)
            sub.forbidden = True
            await asyncio.sleep(0.6)
            sub.forbidden = False
            await feeding
            await asyncio.sleep(0.5)
            reader.cancel()
    # A prefix, a gap while forbidden, then a resumption exactly at one of the source's keyframe units.
    assert len(got) < len(units)
    k = next(i for i in range(len(got)) if got[i] != units[i])
    resumed = units.index(got[k])
    assert resumed > k and ts_unit_kind(units[resumed]) is UnitKind.KEYFRAME
    assert got[k:] == units[resumed:]
