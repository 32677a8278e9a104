"""The HSv5 handshakes a connection sends and what the two sides agree in them, sans-IO.

Pure functions of the :class:`~.config.SrtConfig` and the connection's identifiers: the caller's
induction and conclusion requests, the listener's conclusion response, the SRT extension
(HSREQ/HSRSP) each side proposes and the latency and too-late-drop it settles on. The connection
owns the state machine and decides when each one goes out.

References: draft-sharabayko-srt section 4.3 (handshake: induction then conclusion, HSv5).
"""

from __future__ import annotations

from typing import NamedTuple

from .config import SrtConfig
from .handshake import (
    HS_VERSION_SRT1,
    HS_VERSION_UDT4,
    UDT_DGRAM,
    ExtensionFlag,
    Handshake,
    HandshakeType,
    SrtFlag,
    SrtHandshakeExtension,
    encode_peer_ip,
)


class Agreement(NamedTuple):
    """What a peer's HSREQ/HSRSP settles: our receiver's latency, the peer's, too-late drop."""

    latency_ms: int
    peer_latency_ms: int
    too_late_drop: bool


def negotiate(config: SrtConfig, ext: SrtHandshakeExtension) -> Agreement:
    # Each side's receiver uses the larger of its own latency and what the peer proposes for it
    # (HSv5 bidirectional: section 4.3.1.1, SRTO_RCVLATENCY / SRTO_PEERLATENCY).
    return Agreement(
        latency_ms=max(config.latency_ms, ext.send_tsbpd_delay_ms),
        peer_latency_ms=max(config.latency_ms, ext.recv_tsbpd_delay_ms),
        too_late_drop=config.too_late_drop and bool(ext.flags & SrtFlag.TLPKTDROP),
    )


def srt_extension(config: SrtConfig, *, latency_ms: int, peer_latency_ms: int) -> SrtHandshakeExtension:
    """Our HSREQ (caller) or HSRSP (listener): the capabilities we have and the latencies we want."""
    flags = SrtFlag.TSBPDSND | SrtFlag.TSBPDRCV | SrtFlag.CRYPT | SrtFlag.REXMITFLG | SrtFlag.PACKET_FILTER
    if config.too_late_drop:
        flags |= SrtFlag.TLPKTDROP
    if config.nak_report:
        flags |= SrtFlag.NAKREPORT
    return SrtHandshakeExtension(
        flags=flags, recv_tsbpd_delay_ms=latency_ms, send_tsbpd_delay_ms=peer_latency_ms
    )


def induction_request(
    config: SrtConfig, *, timestamp: int, socket_id: int, initial_seq: int, peer_host: str
) -> Handshake:
    """The caller's first handshake: UDT-versioned, as HSv5 asks, so the listener answers with its cookie."""
    return Handshake(
        timestamp=timestamp,
        dest_socket_id=0,
        version=HS_VERSION_UDT4,
        encryption=0,
        extension_field=UDT_DGRAM,
        initial_seq=initial_seq,
        mtu=config.mss,
        flow_window=config.flow_window,
        handshake_type=HandshakeType.INDUCTION,
        socket_id=socket_id,
        syn_cookie=0,
        peer_ip=encode_peer_ip(peer_host),
    )


def caller_conclusion(
    config: SrtConfig,
    *,
    timestamp: int,
    socket_id: int,
    initial_seq: int,
    peer_host: str,
    cookie: int,
    hsreq: SrtHandshakeExtension,
    kmreq: bytes | None,
) -> Handshake:
    """The caller's conclusion: the listener's cookie back, with HSREQ, KMREQ and stream id."""
    flags = ExtensionFlag.HSREQ
    if kmreq is not None:
        flags |= ExtensionFlag.KMREQ
    if config.streamid:
        flags |= ExtensionFlag.CONFIG
    return Handshake(
        timestamp=timestamp,
        dest_socket_id=0,
        version=HS_VERSION_SRT1,
        encryption=config.pbkeylen // 8 if config.passphrase else 0,
        extension_field=int(flags),
        initial_seq=initial_seq,
        mtu=config.mss,
        flow_window=config.flow_window,
        handshake_type=HandshakeType.CONCLUSION,
        socket_id=socket_id,
        syn_cookie=cookie,
        peer_ip=encode_peer_ip(peer_host),
        hsreq=hsreq,
        kmreq=kmreq,
        stream_id=config.streamid or None,
    )


def listener_response(
    config: SrtConfig,
    request: Handshake,
    *,
    timestamp: int,
    socket_id: int,
    initial_seq: int,
    peer_host: str,
    hsrsp: SrtHandshakeExtension,
    kmrsp: bytes | None,
) -> Handshake:
    """The listener's answer to an accepted conclusion ``request``, with HSRSP and KMRSP."""
    flags = ExtensionFlag.HSREQ | (ExtensionFlag.KMREQ if kmrsp is not None else 0)
    return Handshake(
        timestamp=timestamp,
        dest_socket_id=request.socket_id,
        version=HS_VERSION_SRT1,
        encryption=request.encryption,
        extension_field=int(flags),
        initial_seq=initial_seq,
        mtu=min(request.mtu, config.mss),
        flow_window=config.flow_window,
        handshake_type=HandshakeType.CONCLUSION,
        socket_id=socket_id,
        syn_cookie=request.syn_cookie,
        peer_ip=encode_peer_ip(peer_host),
        hsrsp=hsrsp,
        kmrsp=kmrsp,
    )


__all__ = [
    "Agreement",
    "caller_conclusion",
    "induction_request",
    "listener_response",
    "negotiate",
    "srt_extension",
]
