"""Events an :class:`~mediaplane.srt.connection.SrtConnection` reports through ``next_event()``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every SRT connection event."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionEstablished(Event):
    """The handshake completed; data may flow both ways."""

    socket_id: int
    peer_socket_id: int
    stream_id: str
    latency_ms: int
    """Negotiated receive latency (the larger of both sides' proposals)."""
    peer_latency_ms: int
    """Negotiated latency of the peer's receiver (governs our sender's drop)."""
    encrypted: bool
    key_len: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PayloadReceived(Event):
    """One data packet's payload, delivered in order at its TSBPD time."""

    payload: bytes
    seq: int
    timestamp_us: int
    """The sender's 32-bit packet timestamp."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PacketsDropped(Event):
    """Packets ``first_seq..last_seq`` never arrived in time and were skipped (too-late drop)."""

    first_seq: int
    last_seq: int
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class KeysRefreshed(Event):
    """The peer announced new stream keys (KMREQ) and we accepted them."""

    key_flags: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed(Event):
    """The connection ended. ``reject_reason`` is the ``SRT_REJ_*`` code when the handshake failed."""

    reason: str
    reject_reason: int | None = None
    by_peer: bool = False
