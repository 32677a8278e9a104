"""How the data plane asks the control plane where a stream goes.

The protocol servers (RTMP server, SRT listener) call a :class:`StreamRouter` when a client wants to
publish or play. The control plane implements it with its flows (Cidrs, PlayerLimit, Forbid, which hub);
:class:`OpenRouter` is the trivial implementation used by ``mcemu up`` without flows and by tests.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol

from .hub import Hub, HubClosed, Subscription

Peer = tuple[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamPath:
    """What a client asked for: RTMP ``app`` and stream ``key``; for SRT the stream id's resource
    goes in ``key`` and ``app`` is empty unless the stream id names one."""

    app: str
    key: str

    def __str__(self) -> str:
        return f"{self.app}/{self.key}" if self.app else self.key


class Refused(Exception):
    """The router refuses a session. ``reason`` is logged and, where the protocol can, sent back.

    ``code`` is a protocol-neutral hint: ``"forbidden"`` (not allowed: Cidrs, limits),
    ``"not_found"`` (no such stream), ``"busy"`` (already publishing), ``"unavailable"`` (offline).
    """

    def __init__(self, reason: str, *, code: str = "forbidden") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class StreamRouter(Protocol):
    """The interface the data plane needs from the control plane."""

    def route_publish(self, path: StreamPath, peer: Peer) -> Hub:
        """The hub a publisher at ``peer`` may feed for ``path``. Raises :class:`Refused`."""
        ...

    def route_play(self, path: StreamPath, peer: Peer) -> Subscription:
        """A subscription for a player at ``peer``. Raises :class:`Refused`."""
        ...


class OpenRouter:
    """Every path is allowed; hubs are made on first use and kept. ``cidrs`` optionally restricts peers."""

    def __init__(self, *, cache_gop: bool = True, cidrs: str = "") -> None:
        self.cache_gop = cache_gop
        self.hubs: dict[str, Hub] = {}
        self.allow = parse_cidrs(cidrs)

    def hub(self, path: StreamPath) -> Hub:
        key = str(path)
        hub = self.hubs.get(key)
        if hub is None or hub.closed:
            hub = self.hubs[key] = Hub(key, cache_gop=self.cache_gop)
        return hub

    def route_publish(self, path: StreamPath, peer: Peer) -> Hub:
        check_cidrs(self.allow, peer)
        return self.hub(path)

    def route_play(self, path: StreamPath, peer: Peer) -> Subscription:
        check_cidrs(self.allow, peer)
        try:
            return self.hub(path).subscribe(f"{peer[0]}:{peer[1]}")
        except HubClosed as exc:
            raise Refused(f"stream {path} is closed", code="unavailable") from exc


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def parse_cidrs(cidrs: str) -> Networks:
    """Parse the API's comma-separated allow-list. Raises ValueError naming the bad entry."""
    nets = []
    for part in cidrs.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ValueError(f"invalid CIDR {part!r}") from exc
    return tuple(nets)


def check_cidrs(allow: Networks, peer: Peer) -> None:
    """Raise Refused when ``allow`` is non-empty and ``peer`` is outside it."""
    if not allow:
        return
    addr = ipaddress.ip_address(peer[0])
    if not any(addr in net for net in allow):
        raise Refused(f"peer {peer[0]} is not in the Cidrs allow-list", code="forbidden")
