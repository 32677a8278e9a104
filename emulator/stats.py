"""Live stats for the console: per input and output, bytes, bitrate and its last minute, SRT figures.

:class:`LiveStats` samples the runtime once a second, but only while someone asked for the stats in the
last :data:`WATCH_S` seconds (:meth:`LiveStats.view` starts it; it stops by itself), so it costs nothing
while nobody watches. A bitrate is the bytes of the last sample period; ``history_kbps`` keeps up to
:data:`HISTORY_SAMPLES` of them, oldest first (an endpoint's history starts at its first sample).

Figures come from real traffic: an input's bytes are its hub's; an output's are what its players,
backbone legs and client took from the flow hub (a source that came and went while the sampler was
off is not counted); SRT figures are each live SRT connection's (:class:`mediaplane.srt.SrtStats`).
Players exclude backbone legs, as everywhere a user reads.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .model.flow import OutputProtocol
from .runtime import Runtime

__all__ = ["HISTORY_SAMPLES", "SAMPLE_PERIOD_S", "WATCH_S", "LiveStats"]

SAMPLE_PERIOD_S = 1.0
HISTORY_SAMPLES = 60
WATCH_S = 30.0
"""The sampler runs while the stats were asked for within this many seconds."""

_PUSH_OUTPUTS = (OutputProtocol.RTMP_PUSH, OutputProtocol.SRT_CALLER, OutputProtocol.FLOW)
_PULL_OUTPUTS = (OutputProtocol.RTMP_PULL, OutputProtocol.SRT_LISTENER)


@dataclass(slots=True)
class _Meter:
    """One endpoint's running figures."""

    bytes_total: int = 0
    bitrate_kbps: float = 0.0
    history_kbps: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=HISTORY_SAMPLES)
    )
    last_at: float | None = None
    sources: dict[int, tuple[Any, int]] = field(default_factory=dict)
    """id -> (the counted object, its count at the last sample): kept so a departed one's last bytes count."""

    def sample(self, counts: Iterable[tuple[Any, int]], now: float) -> None:
        """Add what each source (object, its byte count now) moved since the last sample."""
        moved = 0
        added = 0
        seen: dict[int, tuple[Any, int]] = {}
        for obj, count in counts:
            key = id(obj)
            before = self.sources.get(key)
            if before is None or before[0] is not obj:
                added += count  # new since the last sample: its bytes count, its rate from the next one
            else:
                moved += count - before[1] if count >= before[1] else count
            seen[key] = (obj, count)
        self.sources = seen
        self.bytes_total += moved + added
        if self.last_at is not None:
            period = max(now - self.last_at, 1e-3)
            self.bitrate_kbps = round(moved * 8 / 1000 / period, 3)
            self.history_kbps.append(self.bitrate_kbps)
        self.last_at = now

    def view(self) -> dict[str, Any]:
        return {
            "bytes": self.bytes_total,
            "bitrate_kbps": self.bitrate_kbps,
            "history_kbps": list(self.history_kbps),
        }


class LiveStats:
    """The sampler and the ``GET /_emulator/stats`` document (see the module docstring)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        period_s: float = SAMPLE_PERIOD_S,
        watch_s: float = WATCH_S,
    ) -> None:
        self.runtime = runtime
        self._clock = clock
        self._wall = wall_clock
        self.period_s = period_s
        self.watch_s = watch_s
        self._asked_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._meters: dict[tuple[str, str, str], _Meter] = {}
        self.samples = 0
        """Samples taken so far (a test reads it to wait for the next one)."""

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def view(self) -> dict[str, Any]:
        """The stats document; (re)starts the sampler for the next WATCH_S seconds."""
        self._asked_at = self._clock()
        if not self.running:
            self.sample()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mcemu live stats")
        return self._document()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while self._asked_at is not None and self._clock() - self._asked_at < self.watch_s:
            await asyncio.sleep(self.period_s)
            self.sample()
        self._meters.clear()  # the next watcher starts afresh (nothing counted while unwatched)

    # -- sampling -------------------------------------------------------------------------------------
    def _meter(self, key: tuple[str, str, str]) -> _Meter:
        meter = self._meters.get(key)
        if meter is None:
            meter = self._meters[key] = _Meter()
        return meter

    def sample(self) -> None:
        """Read every live endpoint's byte counts once (the sampler calls it each period)."""
        now = self._clock()
        keep: set[tuple[str, str, str]] = set()
        counts: list[tuple[Any, int]]
        for flow in self.runtime.manager.flows:
            live = self.runtime.live.get(flow.id)
            for inp in flow.inputs:
                key = (flow.id, "input", inp.name)
                keep.add(key)
                li = next((i for i in live.inputs if i.config is inp), None) if live is not None else None
                counts = [(li.hub, li.hub.counters.bytes_in)] if li is not None else []
                self._meter(key).sample(counts, now)
            for name in flow.outputs:
                key = (flow.id, "output", name)
                keep.add(key)
                lo = live.outputs.get(name) if live is not None else None
                counts = []
                if lo is not None:
                    counts = [(s, s.bytes_out) for s in lo.live_players() + lo.live_backbone_legs()]
                    sent = _client_bytes_sent(lo.client)
                    if sent is not None:
                        counts.append(sent)
                self._meter(key).sample(counts, now)
        for gone in set(self._meters) - keep:
            del self._meters[gone]
        self.samples += 1

    # -- the document ---------------------------------------------------------------------------------
    def _document(self) -> dict[str, Any]:
        runtime = self.runtime
        flows: dict[str, Any] = {}
        for flow in runtime.manager.flows:
            live = runtime.live.get(flow.id)
            inputs: dict[str, Any] = {}
            for inp in flow.inputs:
                li = next((i for i in live.inputs if i.config is inp), None) if live is not None else None
                m = self._meter((flow.id, "input", inp.name)).view()
                conns = list(li.listener.connections) if li is not None and li.listener is not None else []
                client = li.client if li is not None else None
                inputs[inp.name] = {
                    "active": li is not None and runtime.input_status(flow, inp) == "connected",
                    "bytes_in": li.hub.counters.bytes_in if li is not None else 0,
                    "bitrate_kbps": m["bitrate_kbps"] if li is not None else 0.0,
                    "history_kbps": m["history_kbps"],
                    "srt": self._srt(conns, client, inp.protocol.value == "Flow"),
                }
            outputs: dict[str, Any] = {}
            for name, out in flow.outputs.items():
                lo = live.outputs.get(name) if live is not None else None
                m = self._meter((flow.id, "output", name)).view()
                conns = list(lo.listener.connections) if lo is not None and lo.listener is not None else []
                client = lo.client if lo is not None else None
                connected: bool | None = None
                if out.protocol in _PUSH_OUTPUTS:
                    connected = bool(getattr(client, "connected", False))
                outputs[name] = {
                    "protocol": out.protocol.value,
                    "players": len(lo.live_players())
                    if lo is not None and out.protocol in _PULL_OUTPUTS
                    else 0,
                    "connected": connected,
                    "bytes_out": m["bytes"] if lo is not None else 0,
                    "bitrate_kbps": m["bitrate_kbps"] if lo is not None else 0.0,
                    "history_kbps": m["history_kbps"],
                    "srt": self._srt(conns, client, out.protocol is OutputProtocol.FLOW),
                }
            flows[flow.id] = {
                "name": flow.name,
                "online": live is not None,
                "inputs": inputs,
                "outputs": outputs,
            }
        return {"time": self._wall(), "period_s": self.period_s, "flows": flows}

    def _srt(self, sessions: Iterable[Any], client: Any, client_is_backbone: bool) -> list[dict[str, Any]]:
        """The SRT figures of a listener's sessions and of a connected SRT client."""
        rows = []
        for s in sessions:
            rows.append(_srt_row(f"{s.peer[0]}:{s.peer[1]}", s.stats, self.runtime.is_backbone_path(s.path)))
        stats = getattr(client, "stats", None)
        if stats is not None and hasattr(stats, "rtt_ms") and getattr(client, "connected", False):
            rows.append(_srt_row(f"{client.host}:{client.port}", stats, client_is_backbone))
        return rows


def _srt_row(peer: str, st: Any, backbone: bool) -> dict[str, Any]:
    return {
        "peer": peer,
        "backbone": backbone,
        "rtt_ms": round(float(st.rtt_ms), 3),
        "loss_total": int(st.pkt_rcv_loss_total + st.pkt_snd_loss_total),
        "retransmitted_total": int(st.pkt_retrans_total + st.pkt_recv_retrans_total),
    }


def _client_bytes_sent(client: Any) -> tuple[Any, int] | None:
    """(counted object, bytes sent) of a push / caller output's client: an RTMP client's ``bytes_sent``,
    an SRT caller's connection stats (renewed at each connection)."""
    if client is None:
        return None
    stats = getattr(client, "stats", None)
    if stats is not None and hasattr(stats, "byte_sent_total"):
        return stats, int(stats.byte_sent_total)
    sent = getattr(client, "bytes_sent", None)
    if isinstance(sent, int):
        return client, sent
    return None
