"""Prometheus metrics at ``GET /metrics`` (text exposition format 0.0.4), read from live traffic.

Per flow: online. Per input: bytes received, connected (media in the last 2 s), bitrate. Per output:
players (pull outputs and SRT listeners) and, apart, the paired flows' backbone legs (never players);
client connected (push / caller outputs). Per SRT connection of a flow's listeners and callers: RTT,
packets sent, received, retransmitted, lost and dropped (libsrt's ``srt_bstats`` figures). Per backbone
link and direction: datagrams or writes delivered, bytes delivered, drops. A bitrate is averaged over the
window since a sample kept at an earlier scrape (renewed once it is a second old); the first scrape of an
input reports 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiohttp import web

from mediaplane.netem.link import DIRECTIONS

from .model.manager import FlowManager
from .runtime import Runtime
from .runtime.view import SrtReading

__all__ = ["Metrics", "add_metrics_route"]

CONTENT_TYPE = "text/plain; version=0.0.4"

_HELP: dict[str, tuple[str, str]] = {
    "mcemu_flow_online": ("gauge", "1 while the flow is online"),
    "mcemu_input_bytes_total": ("counter", "bytes of media received by the input"),
    "mcemu_input_connected": ("gauge", "1 when media reached the input in the last 2 s"),
    "mcemu_input_bitrate_bps": ("gauge", "media bitrate into the input, bit/s, since the last scrape"),
    "mcemu_input_max_bitrate_wait_seconds_total": (
        "counter",
        "time media waited to keep the input under its MaxBitrate",
    ),
    "mcemu_output_players": ("gauge", "players connected to a pull or SRT-Listener output"),
    "mcemu_output_backbone_legs": ("gauge", "paired flows' backbone legs pulling the output (not players)"),
    "mcemu_output_client_connected": ("gauge", "1 while a push / caller / Flow output is connected"),
    "mcemu_srt_rtt_ms": ("gauge", "smoothed round-trip time of an SRT connection"),
    "mcemu_srt_packets_sent_total": ("counter", "data packets sent, retransmissions included"),
    "mcemu_srt_packets_received_total": ("counter", "data packets received"),
    "mcemu_srt_packets_retransmitted_total": ("counter", "data packets retransmitted"),
    "mcemu_srt_packets_lost_total": ("counter", "packets detected lost (received side)"),
    "mcemu_srt_packets_dropped_total": ("counter", "packets dropped too late or by the sender"),
    "mcemu_link_delivered_total": ("counter", "datagrams (UDP) or writes (TCP) a backbone link delivered"),
    "mcemu_link_bytes_delivered_total": ("counter", "bytes a backbone link delivered"),
    "mcemu_link_dropped_total": ("counter", "datagrams a backbone link dropped (loss, queue, outage)"),
}


def _labels(**labels: object) -> str:
    def esc(value: object) -> str:
        return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in labels.items()) + "}"


class Metrics:
    """Renders the metrics of one emulator; keeps the previous scrape for bitrates."""

    def __init__(self, manager: FlowManager, runtime: Runtime, clock: Callable[[], float]) -> None:
        self.manager = manager
        self.runtime = runtime
        self._clock = clock
        self._last: dict[int, tuple[float, int]] = {}

    def render(self) -> str:
        rows: dict[str, list[str]] = {name: [] for name in _HELP}
        now = self._clock()
        seen: set[int] = set()
        view = self.runtime.view
        for flow in self.manager.flows:
            base = {"flow_id": flow.id, "flow": flow.name, "region": flow.region.id}
            rows["mcemu_flow_online"].append(f"{_labels(**base)} {int(flow.online)}")
            reading = view.flow(flow.id)
            if reading is None:
                continue
            for i in reading.inputs:
                lab = _labels(**base, input=i.config.name)
                rows["mcemu_input_bytes_total"].append(f"{lab} {i.bytes_in}")
                rows["mcemu_input_connected"].append(f"{lab} {int(i.connected)}")
                rows["mcemu_input_bitrate_bps"].append(
                    f"{lab} {self._bitrate(i.hub_id, i.bytes_in, now):.0f}"
                )
                seen.add(i.hub_id)
                rows["mcemu_input_max_bitrate_wait_seconds_total"].append(f"{lab} {i.max_bitrate_wait_s:.3f}")
                self._srt(rows, {**base, "endpoint": i.config.name}, i.srt)
            for name, o in reading.outputs.items():
                lab = _labels(**base, output=name)
                if o.plays:
                    rows["mcemu_output_players"].append(f"{lab} {o.players}")
                    rows["mcemu_output_backbone_legs"].append(f"{lab} {o.backbone_legs}")
                if o.client_connected is not None:
                    rows["mcemu_output_client_connected"].append(f"{lab} {int(o.client_connected)}")
                self._srt(rows, {**base, "endpoint": name}, o.srt)
        for stale in set(self._last) - seen:
            del self._last[stale]
        for src, dst, link in self.runtime.backbone.links():
            for direction in DIRECTIONS:
                counters = link.counters[direction]
                lab = _labels(link=link.name, src=src, dst=dst, direction=direction)
                rows["mcemu_link_delivered_total"].append(f"{lab} {counters.delivered}")
                rows["mcemu_link_bytes_delivered_total"].append(f"{lab} {counters.bytes_delivered}")
                rows["mcemu_link_dropped_total"].append(f"{lab} {counters.dropped}")
        out: list[str] = []
        for name, (kind, text) in _HELP.items():
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{row}" for row in rows[name])
        return "\n".join(out) + "\n"

    def _bitrate(self, key: int, total_bytes: int, now: float) -> float:
        """Bit/s over the window since the sample kept at an earlier scrape (0 at the first one)."""
        last = self._last.get(key)
        if last is None:
            self._last[key] = (now, total_bytes)
            return 0.0
        since, before = last
        if now - since >= 1.0:
            self._last[key] = (now, total_bytes)
        return (total_bytes - before) * 8 / max(now - since, 1e-3)

    def _srt(self, rows: dict[str, list[str]], base: dict[str, str], stats: Iterable[SrtReading]) -> None:
        for peer, st in stats:
            lab = _labels(**base, peer=peer)
            rows["mcemu_srt_rtt_ms"].append(f"{lab} {st.rtt_ms:.3f}")
            rows["mcemu_srt_packets_sent_total"].append(f"{lab} {st.pkt_sent_total}")
            rows["mcemu_srt_packets_received_total"].append(f"{lab} {st.pkt_recv_total}")
            rows["mcemu_srt_packets_retransmitted_total"].append(f"{lab} {st.pkt_retrans_total}")
            rows["mcemu_srt_packets_lost_total"].append(f"{lab} {st.pkt_rcv_loss_total}")
            dropped = st.pkt_rcv_drop_total + st.pkt_snd_drop_total
            rows["mcemu_srt_packets_dropped_total"].append(f"{lab} {dropped}")


def add_metrics_route(app: web.Application, metrics: Metrics) -> None:
    """``GET /metrics`` on ``app``."""

    async def handle(request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/metrics", handle)
