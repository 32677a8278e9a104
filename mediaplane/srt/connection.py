"""One SRT live-mode connection, sans-IO, plus the listener's stateless handshake front door.

:class:`SrtConnection` is UDP-shaped (STYLE.md): ``receive_datagram(data, addr, now)``,
``datagrams_to_send(now)``, ``get_timer()``, ``handle_timer(now)``, ``next_event()`` and the command
``send(payload, now)``. Time is monotonic seconds passed in; randomness comes from an injected
``random.Random``. A caller connection starts with :meth:`SrtConnection.connect`; a listener-side one
is made by :meth:`SrtConnection.accept` from a conclusion handshake that :class:`SrtAcceptor`
validated (SYN cookie) and the application agreed to.

References: draft-sharabayko-srt sections 3 (packets), 4.3 (handshake: induction then conclusion,
HSv5), 4.5-4.8 (TSBPD, ACK/ACKACK/NAK, too-late drop), 6 (encryption).
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import hashlib
import logging
import random
import struct
from dataclasses import dataclass, field

from .buffers import ReceiveBuffer, SendBuffer
from .circular import (
    SEQ_HALF,
    SEQ_MASK,
    TIMESTAMP_MASK,
    TimestampUnwrapper,
    msgno_next,
    seq_diff,
    seq_window_overlap,
)
from .config import HandshakeLimits, SrtConfig
from .errors import (
    REJECT_WIRE_BASE,
    LocalProtocolError,
    ParseError,
    RejectReason,
    RemoteProtocolError,
    reject_reason_name,
)
from .events import (
    ConnectionClosed,
    ConnectionEstablished,
    Event,
    KeysRefreshed,
    PacketsDropped,
    PayloadReceived,
)
from .handshake import (
    HANDSHAKE_PACKET_SIZE,
    HS_VERSION_SRT1,
    HS_VERSION_UDT4,
    SRT_MAGIC_CODE,
    UDT_DGRAM,
    ExtensionFlag,
    Handshake,
    HandshakeType,
    SrtFlag,
    SrtHandshakeExtension,
    encode_peer_ip,
    parse_handshake,
)
from .keymaterial import BadSecret, KeyMaterialMessage, KeySet, KmState, SenderKeys, new_keyset
from .packet import (
    HEADER_SIZE,
    IN_ORDER_FLAG,
    KEY_MASK,
    KEY_SHIFT,
    RETRANSMITTED_FLAG,
    Ack,
    AckAck,
    AckKind,
    ControlType,
    DropRequest,
    Keepalive,
    KeyMaterialPacket,
    Nak,
    PacketPosition,
    Shutdown,
    UserSubtype,
    parse_control,
)

logger = logging.getLogger(__name__)

Addr = tuple[str, int]

ACK_INTERVAL_S = 0.010
"""Full ACK period (SYN interval, section 4.8.1)."""
MIN_NAK_INTERVAL_S = 0.020
KEEPALIVE_INTERVAL_S = 1.0
KM_RETRY_S = 0.5
KM_MAX_RETRIES = 10
INITIAL_RTT_US = 100_000
INITIAL_RTT_VAR_US = 50_000
MAX_NAK_WORDS = 300
"""Loss-list words in one NAK, so it fits in one datagram."""
ACK_HISTORY = 1024
RATE_WINDOW_S = 1.0
TSBPD_BASE_TOLERANCE_S = 1.0
REXMIT_TIMEOUT_MIN_S = 0.05
"""Unacknowledged packets are resent no sooner than this (see _retransmit_unacknowledged)."""
REXMIT_TAIL_MAX_PACKETS = 64
_U32 = struct.Struct(">I")
_DATA_HEADER = struct.Struct(">IIII")
_SOLO_IN_ORDER = (PacketPosition.SOLO << 30) | IN_ORDER_FLAG


class ConnectionState(enum.Enum):
    IDLE = "idle"
    INDUCTION = "induction"
    CONCLUSION = "conclusion"
    CONNECTED = "connected"
    CLOSED = "closed"


class _Input(enum.Enum):
    CONNECT = "connect"
    INDUCTION_RESPONSE = "induction_response"
    CONCLUSION_RESPONSE = "conclusion_response"
    ACCEPT = "accept"
    CLOSE = "close"


_TRANSITIONS: dict[tuple[ConnectionState, _Input], ConnectionState] = {
    (ConnectionState.IDLE, _Input.CONNECT): ConnectionState.INDUCTION,
    (ConnectionState.IDLE, _Input.ACCEPT): ConnectionState.CONNECTED,
    (ConnectionState.INDUCTION, _Input.INDUCTION_RESPONSE): ConnectionState.CONCLUSION,
    (ConnectionState.CONCLUSION, _Input.CONCLUSION_RESPONSE): ConnectionState.CONNECTED,
    (ConnectionState.IDLE, _Input.CLOSE): ConnectionState.CLOSED,
    (ConnectionState.INDUCTION, _Input.CLOSE): ConnectionState.CLOSED,
    (ConnectionState.CONCLUSION, _Input.CLOSE): ConnectionState.CLOSED,
    (ConnectionState.CONNECTED, _Input.CLOSE): ConnectionState.CLOSED,
}


@dataclass(slots=True)
class SrtStats:
    """Per-connection counters, named after libsrt's ``SRT_TRACEBSTATS`` (``srt_bstats``) fields."""

    pkt_sent_total: int = 0
    """pktSentTotal: data packets sent, retransmissions included."""
    pkt_sent_unique_total: int = 0
    pkt_recv_total: int = 0
    """pktRecvTotal: data packets received, duplicates included."""
    pkt_recv_unique_total: int = 0
    pkt_retrans_total: int = 0
    """pktRetransTotal: packets we retransmitted."""
    pkt_recv_retrans_total: int = 0
    """pktRcvRetransTotal: retransmitted packets received."""
    pkt_snd_loss_total: int = 0
    """pktSndLossTotal: packets the peer reported lost (NAK)."""
    pkt_rcv_loss_total: int = 0
    """pktRcvLossTotal: gaps we detected."""
    pkt_snd_drop_total: int = 0
    """pktSndDropTotal: packets the sender gave up on (too old)."""
    pkt_rcv_drop_total: int = 0
    """pktRcvDropTotal: packets skipped at TSBPD time (too-late drop) or dropped on DROPREQ."""
    pkt_rcv_undecrypt_total: int = 0
    pkt_rcv_overflow_total: int = 0
    """Packets too far ahead of the receive window (beyond SRTO_RCVBUF) that were discarded."""
    pkt_recv_belated_total: int = 0
    """Duplicates and packets arriving after their slot was delivered or dropped."""
    dropreq_recv_total: int = 0
    """DROPREQ messages received: the peer's sender gave up on packets (they count in pkt_rcv_drop_total)."""
    pkt_sent_ack_total: int = 0
    pkt_recv_ack_total: int = 0
    pkt_sent_nak_total: int = 0
    pkt_recv_nak_total: int = 0
    byte_sent_total: int = 0
    byte_sent_unique_total: int = 0
    byte_recv_total: int = 0
    byte_recv_unique_total: int = 0
    byte_retrans_total: int = 0
    byte_snd_drop_total: int = 0
    byte_rcv_drop_total: int = 0
    rtt_ms: float = INITIAL_RTT_US / 1000
    """msRTT: smoothed round-trip time (receiver side from ACKACK, sender side from ACKs)."""
    rtt_var_ms: float = INITIAL_RTT_VAR_US / 1000
    send_rate_mbps: float = 0.0
    """mbpsSendRate over the last second."""
    recv_rate_mbps: float = 0.0
    """mbpsRecvRate over the last second."""
    send_buffer_packets: int = 0
    """pktSndBuf: packets waiting for an ACK."""
    recv_buffer_packets: int = 0
    """pktRcvBuf: packets held for TSBPD release."""
    latency_ms: int = 0
    """msRcvTsbPdDelay: the negotiated receive latency."""
    km_refreshes: int = 0
    nak_clipped_total: int = 0
    """NAK loss ranges reaching past the last packet sent (or reversed): only the part inside the
    send buffer was retransmitted."""
    dropreq_clipped_total: int = 0
    """DROPREQ ranges reaching beyond the receive window (or reversed): only the part inside it was
    dropped."""
    ack_bogus_total: int = 0
    """ACKs acknowledging packets never sent (beyond the next sequence number): ignored."""
    ack_stale_total: int = 0
    """ACKs behind the send buffer (reordered, or for packets the sender already dropped): ignored."""
    ackack_unknown_total: int = 0
    """ACKACKs for an ACK number we never sent or no longer remember: no RTT sample taken."""
    rexmit_timeouts_total: int = 0
    """Times the no-ACK retransmission timer fired and resent packets (libsrt checkRexmitTimer)."""

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


class SrtConnection:
    """One SRT connection (caller or accepted listener side); see the module docstring."""

    def __init__(
        self,
        *,
        config: SrtConfig,
        rng: random.Random,
        peer_addr: Addr,
        now: float,
        socket_id: int | None = None,
        initial_seq: int | None = None,
    ) -> None:
        self.config = config
        self._rng = rng
        self.peer_addr = peer_addr
        self.socket_id = socket_id if socket_id is not None else _random_socket_id(rng)
        self.peer_socket_id = 0
        self.state = ConnectionState.IDLE
        self.is_caller = False
        self.stream_id = config.streamid
        self.stats = SrtStats()
        self.close_reason: str | None = None
        self.reject_reason: int | None = None
        self.latency_ms = config.latency_ms
        self.peer_latency_ms = config.latency_ms
        self._start = now
        self._out: list[bytes] = []
        self._events: collections.deque[Event] = collections.deque()
        self._log = logging.LoggerAdapter(logger, {})
        # Handshake.
        self._isn = rng.getrandbits(31) if initial_seq is None else initial_seq & SEQ_MASK
        self._cookie = 0
        self._hs_packet: bytes | None = None
        self._hs_next_retry: float | None = None
        self._connect_deadline: float | None = None
        self._conclusion_response: bytes | None = None
        # Crypto.
        self._snd_keys: SenderKeys | None = None
        self._rcv_keys: KeySet | None = None
        self._km_pending: bytes | None = None
        self._km_next_retry: float | None = None
        self._km_retries = 0
        self.encrypted = False
        # Data path (created at connection time).
        self._sndbuf = SendBuffer(self._isn)
        self._rcvbuf = ReceiveBuffer(self._isn, capacity=config.recv_buffer_packets)
        self._msgno = 1
        self._tsbpd_base = 0.0
        self._unwrap = TimestampUnwrapper()
        self._latency_s = config.latency_ms / 1000
        self._last_recv = now
        self._last_send = now
        self._next_ack: float | None = None
        self._next_nak: float | None = None
        self._ack_number = 0
        self._last_ack_seq = -1
        self._last_ack_time = 0.0
        self._ack_times: dict[int, float] = {}
        self._rtt_us = float(INITIAL_RTT_US)
        self._rtt_var_us = float(INITIAL_RTT_VAR_US)
        self._rtt_measured = False
        self._rexmit_count = 1
        self._last_data_send = now
        self._send_drop_after_s = 0.0
        self._next_send_drop_check: float | None = None
        self._released: list[tuple[int, int, bytes]] = []
        self._rate_start = now
        self._rate_sent_bytes = 0
        self._rate_recv_bytes = 0
        self._rate_recv_pkts = 0
        self._recv_pkt_rate = 0

    def __repr__(self) -> str:
        return (
            f"<SrtConnection {self.peer_addr[0]}:{self.peer_addr[1]} sock={self.socket_id:#x} "
            f"peer={self.peer_socket_id:#x} {self.state.value}>"
        )

    def set_log_prefix(self, prefix: str) -> None:
        """Prefix this connection's log lines (the adapter's ``[srt 127.0.0.1:5000]``)."""
        self._log = _PrefixAdapter(logger, {"prefix": prefix})

    # -- state ----------------------------------------------------------------------------------
    def _set_state(self, event: _Input) -> None:
        try:
            new = _TRANSITIONS[(self.state, event)]
        except KeyError:
            raise RemoteProtocolError(f"no transition from {self.state.value} on {event.value}") from None
        if self._log.isEnabledFor(logging.DEBUG):
            self._log.debug("%s -> %s", self.state.value, new.value)
        self.state = new

    @property
    def connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    @property
    def closed(self) -> bool:
        return self.state is ConnectionState.CLOSED

    def _timestamp(self, now: float) -> int:
        return int((now - self._start) * 1_000_000) & TIMESTAMP_MASK

    # -- caller handshake -----------------------------------------------------------------------
    def connect(self, now: float) -> None:
        """Start the caller handshake (induction). Raises LocalProtocolError when not idle."""
        if self.state is not ConnectionState.IDLE:
            raise LocalProtocolError(f"connect() in state {self.state.value}")
        self.is_caller = True
        self._set_state(_Input.CONNECT)
        self._connect_deadline = now + self.config.connect_timeout_ms / 1000
        hs = Handshake(
            timestamp=self._timestamp(now),
            dest_socket_id=0,
            version=HS_VERSION_UDT4,
            encryption=0,
            extension_field=UDT_DGRAM,
            initial_seq=self._isn,
            mtu=self.config.mss,
            flow_window=self.config.flow_window,
            handshake_type=HandshakeType.INDUCTION,
            socket_id=self.socket_id,
            syn_cookie=0,
            peer_ip=encode_peer_ip(self.peer_addr[0]),
        )
        self._send_handshake(hs.encode(), now)

    def _send_handshake(self, wire: bytes, now: float) -> None:
        self._hs_packet = wire
        self._hs_next_retry = now + self.config.handshake_retry_ms / 1000
        self._out.append(wire)

    def _handle_induction_response(self, hs: Handshake, now: float) -> None:
        if hs.version != HS_VERSION_SRT1 or hs.extension_field != SRT_MAGIC_CODE:
            self._fail(RejectReason.VERSION, "listener does not speak HSv5", now)
            return
        self._set_state(_Input.INDUCTION_RESPONSE)
        self._cookie = hs.syn_cookie
        cfg = self.config
        flags = ExtensionFlag.HSREQ
        kmreq = None
        if cfg.passphrase:
            keys = new_keyset(self._rng, cfg.pbkeylen)
            kmreq = keys.to_message(cfg.passphrase).encode()
            self._snd_keys = SenderKeys(
                keys, self._rng, refresh_rate=cfg.km_refresh_rate, preannounce=cfg.km_preannounce
            )
            flags |= ExtensionFlag.KMREQ
        if cfg.streamid:
            flags |= ExtensionFlag.CONFIG
        conclusion = Handshake(
            timestamp=self._timestamp(now),
            dest_socket_id=0,
            version=HS_VERSION_SRT1,
            encryption=cfg.pbkeylen // 8 if cfg.passphrase else 0,
            extension_field=int(flags),
            initial_seq=self._isn,
            mtu=cfg.mss,
            flow_window=cfg.flow_window,
            handshake_type=HandshakeType.CONCLUSION,
            socket_id=self.socket_id,
            syn_cookie=self._cookie,
            peer_ip=encode_peer_ip(self.peer_addr[0]),
            hsreq=self._our_srt_extension(),
            kmreq=kmreq,
            stream_id=cfg.streamid or None,
        )
        self._send_handshake(conclusion.encode(), now)

    def _our_srt_extension(self) -> SrtHandshakeExtension:
        cfg = self.config
        flags = (
            SrtFlag.TSBPDSND | SrtFlag.TSBPDRCV | SrtFlag.CRYPT | SrtFlag.REXMITFLG | SrtFlag.PACKET_FILTER
        )
        if cfg.too_late_drop:
            flags |= SrtFlag.TLPKTDROP
        if cfg.nak_report:
            flags |= SrtFlag.NAKREPORT
        return SrtHandshakeExtension(
            flags=flags, recv_tsbpd_delay_ms=self.latency_ms, send_tsbpd_delay_ms=self.peer_latency_ms
        )

    def _handle_conclusion_response(self, hs: Handshake, now: float) -> None:
        reason = hs.reject_reason
        if reason is not None:
            self._close(f"rejected by peer: {reject_reason_name(reason)}", now, reject_reason=reason)
            return
        if hs.handshake_type != HandshakeType.CONCLUSION:
            return
        if hs.hsrsp is None:
            self._fail(RejectReason.VERSION, "conclusion response without HSRSP", now)
            return
        cfg = self.config
        if cfg.passphrase:
            if hs.kmrsp is None:
                self._fail(RejectReason.UNSECURE, "peer has no passphrase", now)
                return
            if len(hs.kmrsp) == 4:
                state = _U32.unpack(hs.kmrsp)[0]
                self._fail(
                    RejectReason.BADSECRET if state == KmState.BADSECRET else RejectReason.UNSECURE,
                    f"peer key material state {state}",
                    now,
                )
                return
            assert self._snd_keys is not None
            self._rcv_keys = KeySet(
                salt=self._snd_keys.keys.salt,
                key_len=self._snd_keys.keys.key_len,
                even=self._snd_keys.keys.even,
                odd=self._snd_keys.keys.odd,
            )
            self.encrypted = True
        elif hs.kmrsp is not None and cfg.enforced_encryption:
            self._fail(RejectReason.UNSECURE, "peer wants encryption, we have no passphrase", now)
            return
        self.peer_socket_id = hs.socket_id
        self._negotiate(hs.hsrsp)
        self._set_state(_Input.CONCLUSION_RESPONSE)
        self._hs_packet = None
        self._hs_next_retry = None
        self._connect_deadline = None
        self._established(hs, now)

    def _negotiate(self, ext: SrtHandshakeExtension) -> None:
        # Each side's receiver uses the larger of its own latency and what the peer proposes for it
        # (HSv5 bidirectional: section 4.3.1.1, SRTO_RCVLATENCY / SRTO_PEERLATENCY).
        self.latency_ms = max(self.config.latency_ms, ext.send_tsbpd_delay_ms)
        self.peer_latency_ms = max(self.config.latency_ms, ext.recv_tsbpd_delay_ms)
        self._latency_s = self.latency_ms / 1000
        self._rcvbuf.too_late_drop = self.config.too_late_drop and bool(ext.flags & SrtFlag.TLPKTDROP)

    def _established(self, hs: Handshake, now: float) -> None:
        # TSBPD base: local time the peer's clock read hs.timestamp (libsrt: m_tsRcvPeerStartTime).
        self._tsbpd_base = now - hs.timestamp / 1_000_000
        self._unwrap = TimestampUnwrapper()
        self._unwrap.unwrap(hs.timestamp)
        self._send_drop_after_s = (self.peer_latency_ms + self.config.send_drop_delay_ms) / 1000
        self._last_recv = now
        self._last_send = now
        self._next_ack = now + ACK_INTERVAL_S
        self._next_nak = now + MIN_NAK_INTERVAL_S
        self._next_send_drop_check = now + 0.1
        self._rate_start = now
        self.stats.latency_ms = self.latency_ms
        ks = self._snd_keys.keys if self._snd_keys is not None else None
        self._events.append(
            ConnectionEstablished(
                socket_id=self.socket_id,
                peer_socket_id=self.peer_socket_id,
                stream_id=self.stream_id,
                latency_ms=self.latency_ms,
                peer_latency_ms=self.peer_latency_ms,
                encrypted=self.encrypted,
                key_len=ks.key_len if ks is not None else 0,
            )
        )
        self._log.info(
            "connected: latency %d ms (peer %d ms)%s stream id %r",
            self.latency_ms,
            self.peer_latency_ms,
            " encrypted" if self.encrypted else "",
            self.stream_id,
        )

    # -- listener side --------------------------------------------------------------------------
    @classmethod
    def accept(
        cls,
        hs: Handshake,
        *,
        config: SrtConfig,
        rng: random.Random,
        peer_addr: Addr,
        now: float,
        socket_id: int,
        log_prefix: str = "",
    ) -> SrtConnection:
        """Answer a cookie-checked conclusion. The result is CONNECTED with the conclusion response
        queued, or CLOSED with a rejection queued and a :class:`ConnectionClosed` carrying the
        reason (BADSECRET, UNSECURE, VERSION...)."""
        conn = cls(config=config, rng=rng, peer_addr=peer_addr, now=now, socket_id=socket_id)
        if log_prefix:
            conn.set_log_prefix(log_prefix)
        conn._accept(hs, now)
        return conn

    def _accept(self, hs: Handshake, now: float) -> None:
        cfg = self.config
        self.peer_socket_id = hs.socket_id
        self.stream_id = hs.stream_id or ""
        self._isn = hs.initial_seq
        self._sndbuf = SendBuffer(self._isn)
        self._rcvbuf = ReceiveBuffer(self._isn, capacity=cfg.recv_buffer_packets)
        if hs.version != HS_VERSION_SRT1 or hs.hsreq is None:
            self._reject(hs, RejectReason.VERSION, "caller does not speak HSv5 with HSREQ", now)
            return
        kmrsp: bytes | None = None
        if hs.kmreq is not None:
            if not cfg.passphrase:
                if cfg.enforced_encryption:
                    self._reject(hs, RejectReason.UNSECURE, "caller encrypts, we have no passphrase", now)
                    return
                kmrsp = _U32.pack(KmState.NOSECRET)
            else:
                try:
                    msg = KeyMaterialMessage.decode(hs.kmreq)
                    keys = KeySet.from_message(msg, cfg.passphrase)
                except BadSecret:
                    self._reject(hs, RejectReason.BADSECRET, "wrong passphrase", now)
                    return
                except ParseError as exc:
                    self._reject(hs, RejectReason.CRYPTO, f"bad key material: {exc}", now)
                    return
                self._rcv_keys = keys
                send_keys = KeySet(salt=keys.salt, key_len=keys.key_len, even=keys.even, odd=keys.odd)
                self._snd_keys = SenderKeys(
                    send_keys, self._rng, refresh_rate=cfg.km_refresh_rate, preannounce=cfg.km_preannounce
                )
                self.encrypted = True
                kmrsp = hs.kmreq
        elif cfg.passphrase and cfg.enforced_encryption:
            self._reject(hs, RejectReason.UNSECURE, "caller does not encrypt", now)
            return
        self._negotiate(hs.hsreq)
        flags = ExtensionFlag.HSREQ | (ExtensionFlag.KMREQ if kmrsp is not None else 0)
        response = Handshake(
            timestamp=self._timestamp(now),
            dest_socket_id=hs.socket_id,
            version=HS_VERSION_SRT1,
            encryption=hs.encryption,
            extension_field=int(flags),
            initial_seq=self._isn,
            mtu=min(hs.mtu, cfg.mss),
            flow_window=cfg.flow_window,
            handshake_type=HandshakeType.CONCLUSION,
            socket_id=self.socket_id,
            syn_cookie=hs.syn_cookie,
            peer_ip=encode_peer_ip(self.peer_addr[0]),
            hsrsp=self._our_srt_extension(),
            kmrsp=kmrsp,
        )
        self._conclusion_response = response.encode()
        self._out.append(self._conclusion_response)
        self._set_state(_Input.ACCEPT)
        self._established(hs, now)

    def _reject(self, hs: Handshake, reason: int, message: str, now: float) -> None:
        # Logged at DEBUG only: the listener adapter logs the refusal (within its INFO budget, so a
        # flood of forged conclusions does not flood the log).
        self._out.append(make_rejection(hs, reason, socket_id=self.socket_id, timestamp=self._timestamp(now)))
        self._log.debug("rejecting handshake: %s (%s)", reject_reason_name(reason), message)
        self._close(
            f"{reject_reason_name(reason)}: {message}", now, reject_reason=reason, log_level=logging.DEBUG
        )

    # -- receiving ------------------------------------------------------------------------------
    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        """Feed one UDP datagram from ``addr``. Malformed input closes this connection (with a
        logged reason and a :class:`ConnectionClosed` event); it never raises."""
        if self.state is ConnectionState.CLOSED:
            return
        if len(data) < HEADER_SIZE:
            self._log.debug("ignoring %d-byte runt datagram", len(data))
            return
        self._last_recv = now
        if not data[0] & 0x80:
            if self.state is ConnectionState.CONNECTED:
                self._receive_data(data, now)
            return
        try:
            self._receive_control(data, now)
        except ParseError as exc:
            self._log.warning("malformed control packet: %s", exc)
            self._close(f"malformed packet: {exc}", now)
        except RemoteProtocolError as exc:
            self._log.warning("protocol error: %s", exc)
            self._close(f"protocol error: {exc}", now)

    def _receive_data(self, data: bytes, now: float) -> None:
        seq, w1, ts, _ = _DATA_HEADER.unpack_from(data)
        st = self.stats
        size = len(data) - HEADER_SIZE
        st.pkt_recv_total += 1
        st.byte_recv_total += size
        self._rate_recv_bytes += size
        self._rate_recv_pkts += 1
        if w1 & RETRANSMITTED_FLAG:
            st.pkt_recv_retrans_total += 1
        rcvbuf = self._rcvbuf
        verdict = rcvbuf.accepts(seq)
        if verdict:
            if verdict == 1:
                st.pkt_recv_belated_total += 1
            else:
                st.pkt_rcv_overflow_total += 1
                if self._log.isEnabledFor(logging.DEBUG):
                    self._log.debug("packet %d beyond the receive buffer; dropped", seq)
            return
        payload = data[HEADER_SIZE:]
        kk = (w1 & KEY_MASK) >> KEY_SHIFT
        if kk:
            keys = self._rcv_keys
            cipher = keys.cipher(kk) if keys is not None else None
            if cipher is None:
                st.pkt_rcv_undecrypt_total += 1
                return
            payload = cipher.crypt(seq, payload)
        elif self.encrypted:
            st.pkt_rcv_undecrypt_total += 1
            return
        tsu = self._unwrap.unwrap(ts)
        if not st.pkt_recv_unique_total:
            # Sanity check of the handshake-derived TSBPD base on the first data packet: a peer whose
            # handshake timestamp is not on its data clock would otherwise have everything dropped
            # as too late (or held far too long).
            base = now - tsu / 1_000_000
            if abs(base - self._tsbpd_base) > TSBPD_BASE_TOLERANCE_S:
                self._log.info(
                    "peer clock jumped %.3f s after the handshake; re-basing TSBPD", base - self._tsbpd_base
                )
                self._tsbpd_base = base
        play = self._tsbpd_base + tsu / 1_000_000 + self._latency_s
        st.pkt_recv_unique_total += 1
        st.byte_recv_unique_total += size
        loss = rcvbuf.insert(seq, play, ts, bytes(payload), now)
        if loss is not None:
            first, last = loss
            n = ((last - first) & SEQ_MASK) + 1
            st.pkt_rcv_loss_total += n
            # Immediate NAK on a gap (section 4.8.2).
            self._send_nak(((first, last),), now)

    def _receive_control(self, data: bytes, now: float) -> None:
        ctype = (data[0] << 8 | data[1]) & 0x7FFF
        if ctype == ControlType.HANDSHAKE:
            self._receive_handshake(parse_handshake(data), now)
            return
        if self.state is not ConnectionState.CONNECTED:
            return
        pkt = parse_control(data)
        if isinstance(pkt, Ack):
            self._handle_ack(pkt, now)
        elif isinstance(pkt, AckAck):
            self._handle_ackack(pkt, now)
        elif isinstance(pkt, Nak):
            self._handle_nak(pkt, now)
        elif isinstance(pkt, Keepalive):
            pass
        elif isinstance(pkt, Shutdown):
            # Hand over what already arrived, as libsrt lets the application read it after a break.
            self._flush_receive_buffer()
            self._close("peer shut down", now, by_peer=True, send_shutdown=False)
        elif isinstance(pkt, DropRequest):
            st = self.stats
            n, clipped = self._rcvbuf.drop_range(pkt.first_seq, pkt.last_seq)
            st.pkt_rcv_drop_total += n
            st.byte_rcv_drop_total += n * (st.byte_recv_unique_total // max(1, st.pkt_recv_unique_total))
            st.dropreq_recv_total += 1
            if clipped:
                st.dropreq_clipped_total += 1
                if self._log.isEnabledFor(logging.DEBUG):
                    rb = self._rcvbuf
                    self._log.debug(
                        "DROPREQ %d..%d clipped to the receive window %d..%d",
                        pkt.first_seq,
                        pkt.last_seq,
                        rb.next_deliver,
                        rb.next_expected,
                    )
        elif isinstance(pkt, KeyMaterialPacket):
            self._handle_km(pkt, now)

    def _receive_handshake(self, hs: Handshake, now: float) -> None:
        state = self.state
        if state is ConnectionState.INDUCTION and hs.handshake_type == HandshakeType.INDUCTION:
            self._handle_induction_response(hs, now)
        elif (state is ConnectionState.INDUCTION and hs.is_rejection) or (
            state is ConnectionState.CONCLUSION
            and (hs.handshake_type == HandshakeType.CONCLUSION or hs.is_rejection)
        ):
            self._handle_conclusion_response(hs, now)
        elif (
            state is ConnectionState.CONNECTED
            and not self.is_caller
            and hs.handshake_type == HandshakeType.CONCLUSION
            and self._conclusion_response is not None
        ):
            # The caller lost our response and repeats its conclusion: answer it again.
            self._out.append(self._conclusion_response)

    def _handle_ack(self, ack: Ack, now: float) -> None:
        st = self.stats
        st.pkt_recv_ack_total += 1
        sndbuf = self._sndbuf
        released = sndbuf.acknowledge(ack.last_ack_seq)
        if released < 0:
            # libsrt breaks the connection on an ACK beyond the last sent packet; ignoring it keeps a
            # forged control packet from cutting the relay.
            if seq_diff(ack.last_ack_seq, sndbuf.next_seq) > 0:
                st.ack_bogus_total += 1
            else:
                st.ack_stale_total += 1
            if self._log.isEnabledFor(logging.DEBUG):
                self._log.debug(
                    "ignoring ACK %d outside the send buffer %d..%d",
                    ack.last_ack_seq,
                    sndbuf.first_seq,
                    sndbuf.next_seq,
                )
        elif released:
            # The peer is receiving: the no-ACK retransmission timer starts over (libsrt resets
            # m_iReXmitCount on each ACK).
            self._rexmit_count = 1
        if ack.kind is not AckKind.LIGHT and ack.rtt_us and not self._rtt_measured:
            # A pure sender learns the RTT from the receiver's ACKs; our own ACKACK samples win when
            # we receive too. The peer's estimate also paces our ACK-timeout retransmission.
            self._rtt_us = float(ack.rtt_us)
            self._rtt_var_us = float(ack.rtt_var_us)
            st.rtt_ms = ack.rtt_us / 1000
            st.rtt_var_ms = ack.rtt_var_us / 1000
        if ack.kind is AckKind.FULL:
            self._emit(
                AckAck(
                    timestamp=self._timestamp(now),
                    dest_socket_id=self.peer_socket_id,
                    ack_number=ack.ack_number,
                ).encode(),
                now,
            )

    def _handle_ackack(self, pkt: AckAck, now: float) -> None:
        sent = self._ack_times.pop(pkt.ack_number, None)
        if sent is None:
            self.stats.ackack_unknown_total += 1
            return
        sample = (now - sent) * 1_000_000
        if not self._rtt_measured:
            # The first sample replaces the 100 ms guess (libsrt 1.5 does the same).
            self._rtt_measured = True
            self._rtt_us = sample
            self._rtt_var_us = sample / 2
        else:
            # Smoothing as in section 4.10.
            self._rtt_var_us = 0.75 * self._rtt_var_us + 0.25 * abs(self._rtt_us - sample)
            self._rtt_us = 0.875 * self._rtt_us + 0.125 * sample
        self.stats.rtt_ms = self._rtt_us / 1000
        self.stats.rtt_var_ms = self._rtt_var_us / 1000

    def _handle_nak(self, nak: Nak, now: float) -> None:
        """Retransmit what the peer reports lost, clipped to the send buffer (libsrt
        processCtrlLossReport): whatever the ranges on the wire cover (up to 2^31 numbers each), the
        work is one pass over the packets we hold, each resent at most once per NAK. Numbers before
        the buffer (acknowledged or given up) get one DROPREQ so the receiver stops waiting for them
        (section 3.2.9). A range reaching past the last packet sent is a bug or an attack; libsrt
        breaks the connection there, we retransmit its valid part and count it, so one forged control
        packet cannot cut a relay."""
        st = self.stats
        st.pkt_recv_nak_total += 1
        sndbuf = self._sndbuf
        base = sndbuf.first_seq
        held = seq_diff(sndbuf.next_seq, base)
        wanted: list[tuple[int, int]] = []
        gone_first = gone_last = -1
        for first, last in nak.losses:
            count = ((last - first) & SEQ_MASK) + 1
            pieces = seq_window_overlap(first, count, base, held)
            wanted.extend(pieces)
            if count > SEQ_HALF or seq_diff(last, sndbuf.next_seq) >= 0:
                st.nak_clipped_total += 1
                if self._log.isEnabledFor(logging.DEBUG):
                    self._log.debug(
                        "NAK range %d..%d clipped to the send buffer %d..%d",
                        first,
                        last,
                        base,
                        sndbuf.next_seq,
                    )
            elif seq_diff(first, base) < 0:
                # Before the buffer: packets acknowledged or dropped already.
                gone_end = last if seq_diff(last, base) < 0 else (base - 1) & SEQ_MASK
                if gone_first < 0 or seq_diff(first, gone_first) < 0:
                    gone_first = first
                if gone_last < 0 or seq_diff(gone_end, gone_last) > 0:
                    gone_last = gone_end
        wanted.sort()
        dst = self.peer_socket_id
        entries = sndbuf.entries
        out = self._out
        done = 0  # offsets below this were resent already by this NAK
        for a, b in wanted:
            a = max(a, done)
            if a >= b:
                continue
            done = b
            st.pkt_snd_loss_total += b - a
            seq = (base + a) & SEQ_MASK
            for _ in range(b - a):
                e = entries.get(seq)
                if e is not None:
                    e.retransmits += 1
                    e.last_sent = now
                    out.append(
                        _DATA_HEADER.pack(seq, e.word1 | RETRANSMITTED_FLAG, e.timestamp, dst) + e.payload
                    )
                    n = len(e.payload)
                    st.pkt_retrans_total += 1
                    st.pkt_sent_total += 1
                    st.byte_retrans_total += n
                    st.byte_sent_total += n
                    self._rate_sent_bytes += n
                seq = (seq + 1) & SEQ_MASK
        self._last_send = now
        if gone_first >= 0:
            out.append(
                DropRequest(
                    timestamp=self._timestamp(now),
                    dest_socket_id=dst,
                    msgno=0,
                    first_seq=gone_first,
                    last_seq=gone_last,
                ).encode()
            )

    def _handle_km(self, pkt: KeyMaterialPacket, now: float) -> None:
        if pkt.subtype is UserSubtype.KMRSP:
            if self._km_pending is not None and (pkt.body == self._km_pending or len(pkt.body) == 4):
                if len(pkt.body) == 4:
                    self._log.warning("peer refused our new keys (state %d)", _U32.unpack(pkt.body[:4])[0])
                self._km_pending = None
                self._km_next_retry = None
            return
        # KMREQ: the peer refreshes its keys.
        ts = self._timestamp(now)
        if not self.config.passphrase:
            body = _U32.pack(KmState.NOSECRET)
        else:
            try:
                keys = KeySet.from_message(KeyMaterialMessage.decode(pkt.body), self.config.passphrase)
            except (BadSecret, ParseError) as exc:
                self._log.warning("peer key refresh refused: %s", exc)
                body = _U32.pack(KmState.BADSECRET)
            else:
                if self._rcv_keys is None:
                    self._rcv_keys = keys
                else:
                    self._rcv_keys.update_from(keys)
                self.stats.km_refreshes += 1
                self._events.append(KeysRefreshed(key_flags=int(keys.flags())))
                body = pkt.body
        self._emit(
            KeyMaterialPacket(
                timestamp=ts, dest_socket_id=self.peer_socket_id, subtype=UserSubtype.KMRSP, body=body
            ).encode(),
            now,
        )

    # -- sending --------------------------------------------------------------------------------
    def send(self, payload: bytes, now: float) -> None:
        """Queue one payload (at most ``config.payload_size`` bytes, e.g. 1316 bytes of MPEG-TS) as
        one data packet. Ignored with a debug log when not connected."""
        if self.state is not ConnectionState.CONNECTED:
            if self._log.isEnabledFor(logging.DEBUG):
                self._log.debug("dropping payload: not connected")
            return
        sndbuf = self._sndbuf
        seq = sndbuf.next_seq
        ts = int((now - self._start) * 1_000_000) & TIMESTAMP_MASK
        word1 = _SOLO_IN_ORDER | self._msgno
        keys = self._snd_keys
        if keys is not None:
            word1 |= keys.current << KEY_SHIFT
            payload = keys.cipher().crypt(seq, payload)
            if keys.count_packet():
                self._announce_keys(now)
        self._msgno = msgno_next(self._msgno)
        if len(sndbuf) >= self.config.send_buffer_packets:
            # SRTO_SNDBUF is full: the oldest unacknowledged packet is given up (a NAK for it gets
            # a DROPREQ), as libsrt's sender drops when its buffer overflows.
            self.stats.pkt_snd_drop_total += 1
            self.stats.byte_snd_drop_total += sndbuf.drop_oldest()
        sndbuf.add(word1, ts, payload, now)
        self._out.append(_DATA_HEADER.pack(seq, word1, ts, self.peer_socket_id) + payload)
        n = len(payload)
        st = self.stats
        st.pkt_sent_total += 1
        st.pkt_sent_unique_total += 1
        st.byte_sent_total += n
        st.byte_sent_unique_total += n
        self._rate_sent_bytes += n
        self._last_send = now
        self._last_data_send = now

    def _announce_keys(self, now: float) -> None:
        assert self._snd_keys is not None
        self._km_pending = self._snd_keys.keys.to_message(self.config.passphrase).encode()
        self._km_retries = 0
        self.stats.km_refreshes += 1
        self._send_km(now)

    def _send_km(self, now: float) -> None:
        assert self._km_pending is not None
        self._emit(
            KeyMaterialPacket(
                timestamp=self._timestamp(now),
                dest_socket_id=self.peer_socket_id,
                subtype=UserSubtype.KMREQ,
                body=self._km_pending,
            ).encode(),
            now,
        )
        self._km_retries += 1
        self._km_next_retry = now + KM_RETRY_S if self._km_retries < KM_MAX_RETRIES else None

    def _emit(self, wire: bytes, now: float) -> None:
        self._out.append(wire)
        self._last_send = now

    def _send_nak(self, losses: tuple[tuple[int, int], ...] | list[tuple[int, int]], now: float) -> None:
        self.stats.pkt_sent_nak_total += 1
        self._emit(
            Nak(
                timestamp=self._timestamp(now), dest_socket_id=self.peer_socket_id, losses=tuple(losses)
            ).encode(),
            now,
        )

    def _send_ack(self, now: float) -> None:
        rcvbuf = self._rcvbuf
        ack_seq = rcvbuf.ack_seq()
        if ack_seq == self._last_ack_seq and now - self._last_ack_time < max(0.1, 2 * self._rtt_us / 1e6):
            return
        self._ack_number = (self._ack_number + 1) & 0x7FFFFFFF or 1
        self._ack_times[self._ack_number] = now
        if len(self._ack_times) > ACK_HISTORY:
            self._ack_times.pop(next(iter(self._ack_times)))
        self._last_ack_seq = ack_seq
        self._last_ack_time = now
        self.stats.pkt_sent_ack_total += 1
        avail = max(2, self.config.recv_buffer_packets - rcvbuf.occupancy())
        self._emit(
            Ack(
                timestamp=self._timestamp(now),
                dest_socket_id=self.peer_socket_id,
                ack_number=self._ack_number,
                last_ack_seq=ack_seq,
                rtt_us=int(self._rtt_us),
                rtt_var_us=int(self._rtt_var_us),
                available_buffer=avail,
                packet_rate=self._recv_pkt_rate,
                link_capacity=1000,
                receive_rate_bps=int(self.stats.recv_rate_mbps * 125_000),
            ).encode(),
            now,
        )

    # -- timers ---------------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        """Monotonic time (seconds) at which :meth:`handle_timer` must run next, or None."""
        state = self.state
        if state is ConnectionState.CLOSED or state is ConnectionState.IDLE:
            return None
        if state is not ConnectionState.CONNECTED:
            t = self._hs_next_retry
            d = self._connect_deadline
            if t is None:
                return d
            return t if d is None or t < d else d
        t = self._last_recv + self.config.peer_idle_timeout_ms / 1000
        k = self._last_send + KEEPALIVE_INTERVAL_S
        if k < t:
            t = k
        for c in (self._next_ack, self._next_nak, self._km_next_retry, self._next_send_drop_check):
            if c is not None and c < t:
                t = c
        r = self._rcvbuf.next_release_time()
        if r is not None and r < t:
            t = r
        oldest = self._sndbuf.entries.get(self._sndbuf.first_seq)
        if oldest is not None:
            r = oldest.last_sent + self._rexmit_timeout()
            if r < t:
                t = r
        return t

    def _rexmit_timeout(self) -> float:
        """Seconds a packet may stay unacknowledged after it last went out before the no-ACK timer
        resends it: libsrt's checkRexmitTimer, ``n * (SRTT + 4 RTTVar + 2 SYN) + SYN``, where ``n``
        counts the firings since the last ACK that made progress (a linear backoff). An ACK for a
        packet comes back one RTT plus at most one ACK period after it was sent, so on a lossless
        path this never fires, however the RTT compares with the latency. It is not capped by the
        latency: a blind resend that cannot arrive in time would only double the traffic."""
        rtt_syn = (self._rtt_us + 4 * self._rtt_var_us) / 1e6 + 2 * ACK_INTERVAL_S
        return max(REXMIT_TIMEOUT_MIN_S, self._rexmit_count * rtt_syn + ACK_INTERVAL_S)

    def handle_timer(self, now: float) -> None:
        """Run whatever is due at ``now``: handshake retries and timeout, ACK, periodic NAK, TSBPD
        release, sender drop, key announcements, keepalive, peer idle timeout."""
        state = self.state
        if state is ConnectionState.CLOSED or state is ConnectionState.IDLE:
            return
        if state is not ConnectionState.CONNECTED:
            if self._connect_deadline is not None and now >= self._connect_deadline:
                self._close("connection setup timed out", now, reject_reason=RejectReason.TIMEOUT)
                return
            if self._hs_next_retry is not None and now >= self._hs_next_retry and self._hs_packet is not None:
                self._send_handshake(self._hs_packet, now)
            return
        if now >= self._last_recv + self.config.peer_idle_timeout_ms / 1000:
            self._close("peer idle timeout", now)
            return
        self._deliver(now)
        if self._next_ack is not None and now >= self._next_ack:
            self._send_ack(now)
            self._next_ack = now + ACK_INTERVAL_S
            self._update_rates(now)
        if self._next_nak is not None and now >= self._next_nak:
            # Periodic NAK report: half of RTT + 4 RTTVar, at least 20 ms (libsrt live mode).
            interval = max(MIN_NAK_INTERVAL_S, (self._rtt_us + 4 * self._rtt_var_us) / 2e6)
            if self.config.nak_report and self._rcvbuf.losses:
                ranges = list(self._rcvbuf.loss_ranges(now, now - interval))
                words = 0
                batch: list[tuple[int, int]] = []
                for r in ranges:
                    batch.append(r)
                    words += 1 if r[0] == r[1] else 2
                    if words >= MAX_NAK_WORDS:
                        self._send_nak(batch, now)
                        batch, words = [], 0
                if batch:
                    self._send_nak(batch, now)
            self._next_nak = now + interval
        if self._next_send_drop_check is not None and now >= self._next_send_drop_check:
            n, size = self._sndbuf.drop_older_than(now - self._send_drop_after_s)
            if n:
                self.stats.pkt_snd_drop_total += n
                self.stats.byte_snd_drop_total += size
                self._log.debug("sender dropped %d packets older than %.3f s", n, self._send_drop_after_s)
            self._next_send_drop_check = now + 0.1
        oldest = self._sndbuf.entries.get(self._sndbuf.first_seq)
        if oldest is not None and now >= oldest.last_sent + self._rexmit_timeout():
            self._retransmit_unacknowledged(now)
        if self._km_next_retry is not None and now >= self._km_next_retry and self._km_pending is not None:
            self._send_km(now)
        if now >= self._last_send + KEEPALIVE_INTERVAL_S:
            self._emit(
                Keepalive(timestamp=self._timestamp(now), dest_socket_id=self.peer_socket_id).encode(), now
            )

    def _retransmit_unacknowledged(self, now: float) -> None:
        """ACK-timeout retransmission (libsrt's LATEREXMIT idea). ACKs come every 10 ms and stop at
        the receiver's first gap, so a packet still unacknowledged a timeout after it last went out is
        missing there and its NAK was lost (a libsrt receiver repeats NAKs only after RTT + 4 RTTVar,
        too late early in a connection). When the sender is busy only that first packet is resent
        (what follows it was most likely received); when it went quiet, the whole unacknowledged tail
        is, since no later packet will ever reveal those gaps."""
        sndbuf = self._sndbuf
        timeout = self._rexmit_timeout()
        idle = now >= self._last_data_send + timeout
        limit = REXMIT_TAIL_MAX_PACKETS if idle else 1
        dst = self.peer_socket_id
        st = self.stats
        seq = sndbuf.first_seq
        sent = 0
        while seq != sndbuf.next_seq and sent < limit:
            e = sndbuf.entries.get(seq)
            if e is not None and now >= e.last_sent + timeout:
                e.retransmits += 1
                e.last_sent = now
                self._out.append(
                    _DATA_HEADER.pack(seq, e.word1 | RETRANSMITTED_FLAG, e.timestamp, dst) + e.payload
                )
                n = len(e.payload)
                st.pkt_retrans_total += 1
                st.pkt_sent_total += 1
                st.byte_retrans_total += n
                st.byte_sent_total += n
                self._rate_sent_bytes += n
                sent += 1
            seq = (seq + 1) & SEQ_MASK
        if sent:
            self._last_send = now
            st.rexmit_timeouts_total += 1
            self._rexmit_count += 1
        elif sndbuf.first_seq in sndbuf.entries:
            # Nothing was old enough (the first entry is fresh after all): push its deadline.
            sndbuf.entries[sndbuf.first_seq].last_sent = now

    def _deliver(self, now: float) -> None:
        out = self._released
        dropped = self._rcvbuf.release(now, out)
        st = self.stats
        for first, last in dropped:
            n = ((last - first) & SEQ_MASK) + 1
            st.pkt_rcv_drop_total += n
            # The bytes never arrived: estimated from the average payload, as libsrt does.
            st.byte_rcv_drop_total += n * (st.byte_recv_unique_total // max(1, st.pkt_recv_unique_total))
            self._events.append(PacketsDropped(first_seq=first, last_seq=last, count=n))
            if self._log.isEnabledFor(logging.DEBUG):
                self._log.debug("too-late drop of %d packets %d..%d", n, first, last)
        if out:
            ev = self._events
            for seq, ts, payload in out:
                ev.append(PayloadReceived(payload=payload, seq=seq, timestamp_us=ts))
            out.clear()

    def _flush_receive_buffer(self) -> None:
        rcvbuf = self._rcvbuf
        seq = rcvbuf.next_deliver
        ev = self._events
        while seq != rcvbuf.next_expected:
            item = rcvbuf.packets.pop(seq, None)
            if item is not None:
                ev.append(PayloadReceived(payload=item[2], seq=seq, timestamp_us=item[1]))
            seq = (seq + 1) & SEQ_MASK
        rcvbuf.next_deliver = seq
        rcvbuf.losses.clear()

    def _update_rates(self, now: float) -> None:
        span = now - self._rate_start
        if span < RATE_WINDOW_S:
            return
        st = self.stats
        st.send_rate_mbps = self._rate_sent_bytes * 8 / span / 1e6
        st.recv_rate_mbps = self._rate_recv_bytes * 8 / span / 1e6
        self._recv_pkt_rate = int(self._rate_recv_pkts / span)
        st.send_buffer_packets = len(self._sndbuf)
        st.recv_buffer_packets = len(self._rcvbuf.packets)
        self._rate_sent_bytes = self._rate_recv_bytes = self._rate_recv_pkts = 0
        self._rate_start = now

    # -- output, events, close ------------------------------------------------------------------
    def datagrams_to_send(self, now: float) -> list[bytes]:
        """Datagrams for :attr:`peer_addr`, oldest first; the list is handed over, not copied."""
        out = self._out
        if out:
            self._out = []
        return out

    def next_event(self) -> Event | None:
        """The next event, or None."""
        ev = self._events
        return ev.popleft() if ev else None

    def close(self, now: float, reason: str = "closed locally") -> None:
        """Send SHUTDOWN (when connected) and close. Idempotent."""
        self._close(reason, now)

    def _fail(self, reason: int, message: str, now: float) -> None:
        self._log.warning("handshake failed: %s (%s)", reject_reason_name(reason), message)
        self._close(f"{reject_reason_name(reason)}: {message}", now, reject_reason=reason)

    def _close(
        self,
        reason: str,
        now: float,
        *,
        reject_reason: int | None = None,
        by_peer: bool = False,
        send_shutdown: bool = True,
        log_level: int = logging.INFO,
    ) -> None:
        if self.state is ConnectionState.CLOSED:
            return
        if self.state is ConnectionState.CONNECTED and send_shutdown:
            self._out.append(
                Shutdown(timestamp=self._timestamp(now), dest_socket_id=self.peer_socket_id).encode()
            )
        self._set_state(_Input.CLOSE)
        self.close_reason = reason
        self.reject_reason = reject_reason
        self._log.log(log_level, "closed: %s", reason)
        self._events.append(ConnectionClosed(reason=reason, reject_reason=reject_reason, by_peer=by_peer))


class _PrefixAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: object, kwargs: object) -> tuple[str, object]:  # type: ignore[override]
        assert self.extra is not None
        return f"{self.extra['prefix']} {msg}", kwargs


def _random_socket_id(rng: random.Random) -> int:
    return rng.randrange(1, 1 << 31)


def make_rejection(hs: Handshake, reason: int, *, socket_id: int = 0, timestamp: int = 0) -> bytes:
    """A handshake refusing ``hs`` with ``reason`` (the wire carries ``1000 + reason``)."""
    return Handshake(
        timestamp=timestamp,
        dest_socket_id=hs.socket_id,
        version=HS_VERSION_SRT1,
        encryption=0,
        extension_field=0,
        initial_seq=hs.initial_seq,
        mtu=hs.mtu,
        flow_window=hs.flow_window,
        handshake_type=REJECT_WIRE_BASE + int(reason),
        socket_id=socket_id,
        syn_cookie=hs.syn_cookie,
        peer_ip=hs.peer_ip,
    ).encode()


# -- the listener's front door ------------------------------------------------------------------

COOKIE_PERIOD_S = 60.0


@dataclass(slots=True)
class AcceptorStats:
    """Counters of a listener's front door (handshakes sent to socket id 0)."""

    inductions: int = 0
    """Inductions received (answered or not)."""
    inductions_limited: int = 0
    """Inductions dropped unanswered over a HandshakeLimits bucket."""
    conclusions: int = 0
    """Conclusions received."""
    bad_cookies: int = 0
    """Conclusions dropped for a SYN cookie that does not match their address."""
    conclusions_limited: int = 0
    """Cookie-checked conclusions dropped over a HandshakeLimits bucket (no PBKDF2 spent)."""
    malformed: int = 0
    rejected: int = 0
    """Rejections sent (accept hook, router, passphrase, version...)."""
    refusals_logged_quietly: int = 0
    """Refusals logged at DEBUG because the INFO budget of the interval was spent."""


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; time comes in as ``now`` (monotonic seconds)."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one; False when the bucket is empty."""
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _AddressLimiter:
    """One bucket per source IP address (at most ``tracked`` of them) plus one for everybody."""

    __slots__ = ("_burst", "_by_addr", "_rate", "_total", "_tracked")

    def __init__(self, rate: float, burst: int, total_rate: float, total_burst: int, tracked: int) -> None:
        self._rate = rate
        self._burst = burst
        self._tracked = tracked
        self._by_addr: dict[str, TokenBucket] = {}
        self._total = TokenBucket(total_rate, total_burst, 0.0)
        self._total.stamp = float("-inf")  # full from the start, whatever the clock reads

    def allow(self, host: str, now: float) -> bool:
        buckets = self._by_addr
        bucket = buckets.get(host)
        if bucket is None:
            if len(buckets) >= self._tracked:
                buckets.pop(next(iter(buckets)))
            bucket = buckets[host] = TokenBucket(self._rate, self._burst, now)
        # The address's own bucket first: one noisy address cannot spend everybody's tokens.
        return bucket.take(now) and self._total.take(now)


# Offsets of fields inside a handshake datagram (16-byte header + CIF, section 3.2.1), read before
# the full parse so that floods are sorted out at constant cost.
_HS_TYPE_OFFSET = 36
_HS_COOKIE_OFFSET = 44


@dataclass(slots=True)
class SrtAcceptor:
    """Stateless induction and SYN-cookie check for a listener (section 4.3.1.1), with rate limits.

    An induction is answered at once and remembers nothing, so a flood of them costs no memory. A
    conclusion whose cookie matches the peer's address in the current or previous minute, and that
    fits the :class:`HandshakeLimits`, is returned to the adapter, which asks its accept hook and
    calls :meth:`SrtConnection.accept` (the PBKDF2 key unwrap) or :meth:`reject`. Everything is
    checked cheaply before the full parse: handshake type, then cookie, then limits. Floods are
    counted in :attr:`stats`, logged per datagram only at DEBUG, and summed up at INFO at most once
    per ``limits.summary_interval_s``.
    """

    config: SrtConfig
    rng: random.Random
    limits: HandshakeLimits = field(default_factory=HandshakeLimits)
    log_prefix: str = ""
    _secret: bytes = b""
    _out: list[tuple[bytes, Addr]] = field(default_factory=list)
    stats: AcceptorStats = field(default_factory=AcceptorStats)
    _inductions: _AddressLimiter | None = None
    _conclusions: _AddressLimiter | None = None
    _summary_at: float | None = None
    _summarised: tuple[int, ...] = ()
    _info_left: int = 0

    def __post_init__(self) -> None:
        self._secret = self.rng.randbytes(16)
        lim = self.limits.validate()
        self._inductions = _AddressLimiter(
            lim.induction_per_addr_per_s,
            lim.induction_burst_per_addr,
            lim.induction_per_s,
            lim.induction_burst,
            lim.tracked_addresses,
        )
        self._conclusions = _AddressLimiter(
            lim.conclusion_per_addr_per_s,
            lim.conclusion_burst_per_addr,
            lim.conclusion_per_s,
            lim.conclusion_burst,
            lim.tracked_addresses,
        )
        self._summarised = self._noise()
        self._info_left = lim.info_refusals_per_interval

    def cookie(self, addr: Addr, now: float, *, previous: bool = False) -> int:
        bucket = int(now // COOKIE_PERIOD_S) - (1 if previous else 0)
        digest = hashlib.blake2s(f"{addr[0]}:{addr[1]}:{bucket}".encode(), key=self._secret, digest_size=4)
        return int.from_bytes(digest.digest(), "big")

    def receive_handshake(self, data: bytes, addr: Addr, now: float) -> Handshake | None:
        """Handle a handshake sent to socket id 0. Returns a conclusion with a valid cookie within
        the limits (for the application to accept or reject), None otherwise (induction answered or
        dropped, garbage counted)."""
        self._maybe_summarise(now)
        st = self.stats
        if len(data) < HANDSHAKE_PACKET_SIZE:
            st.malformed += 1
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%slistener: %d-byte handshake from %s:%d", self.log_prefix, len(data), *addr)
            return None
        hs_type = _U32.unpack_from(data, _HS_TYPE_OFFSET)[0]
        if hs_type == HandshakeType.INDUCTION:
            st.inductions += 1
            assert self._inductions is not None
            if not self._inductions.allow(addr[0], now):
                st.inductions_limited += 1
                return None
        elif hs_type == HandshakeType.CONCLUSION:
            st.conclusions += 1
            cookie = _U32.unpack_from(data, _HS_COOKIE_OFFSET)[0]
            if cookie != self.cookie(addr, now) and cookie != self.cookie(addr, now, previous=True):
                st.bad_cookies += 1
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug(
                        "%slistener: conclusion from %s:%d with a bad SYN cookie", self.log_prefix, *addr
                    )
                return None
            assert self._conclusions is not None
            if not self._conclusions.allow(addr[0], now):
                st.conclusions_limited += 1
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("%slistener: conclusion from %s:%d over the limit", self.log_prefix, *addr)
                return None
        else:
            return None
        try:
            hs = parse_handshake(data)
        except ParseError as exc:
            st.malformed += 1
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%slistener: malformed handshake from %s:%d: %s", self.log_prefix, *addr, exc)
            return None
        if hs.handshake_type == HandshakeType.INDUCTION:
            if hs.version != HS_VERSION_UDT4 and hs.version != HS_VERSION_SRT1:
                return None
            response = Handshake(
                timestamp=hs.timestamp,
                dest_socket_id=hs.socket_id,
                version=HS_VERSION_SRT1,
                encryption=self.config.pbkeylen // 8 if self.config.passphrase else 0,
                extension_field=SRT_MAGIC_CODE,
                initial_seq=hs.initial_seq,
                mtu=hs.mtu,
                flow_window=hs.flow_window,
                handshake_type=HandshakeType.INDUCTION,
                socket_id=hs.socket_id,
                syn_cookie=self.cookie(addr, now),
                peer_ip=encode_peer_ip(addr[0]),
            )
            self._out.append((response.encode(), addr))
            return None
        return hs

    def reject(self, hs: Handshake, addr: Addr, reason: int) -> None:
        """Queue a rejection of ``hs`` (accept hook or router refusal)."""
        self.stats.rejected += 1
        self._out.append((make_rejection(hs, reason), addr))

    def refusal_log_level(self, now: float) -> int:
        """The level at which the adapter logs refusing one caller: INFO while the interval's budget
        (``limits.info_refusals_per_interval``) lasts, DEBUG after that (counted, and mentioned in
        the next summary)."""
        self._maybe_summarise(now)
        if self._info_left > 0:
            self._info_left -= 1
            return logging.INFO
        self.stats.refusals_logged_quietly += 1
        return logging.DEBUG

    def _noise(self) -> tuple[int, ...]:
        st = self.stats
        return (
            st.inductions_limited,
            st.bad_cookies,
            st.conclusions_limited,
            st.malformed,
            st.refusals_logged_quietly,
        )

    def _maybe_summarise(self, now: float) -> None:
        at = self._summary_at
        if at is None:
            self._summary_at = now + self.limits.summary_interval_s
            return
        if now < at:
            return
        self._summary_at = now + self.limits.summary_interval_s
        self._info_left = self.limits.info_refusals_per_interval
        noise = self._noise()
        if noise == self._summarised:
            return
        d = [a - b for a, b in zip(noise, self._summarised, strict=True)]
        self._summarised = noise
        logger.info(
            "%slistener: dropped %d inductions over the limit, %d conclusions with a bad cookie, "
            "%d over the limit, %d malformed handshakes; %d refusals logged at DEBUG",
            self.log_prefix,
            *d,
        )

    def datagrams_to_send(self) -> list[tuple[bytes, Addr]]:
        out = self._out
        self._out = []
        return out


__all__ = [
    "AcceptorStats",
    "ConnectionState",
    "SrtAcceptor",
    "SrtConnection",
    "SrtStats",
    "TokenBucket",
    "make_rejection",
]
