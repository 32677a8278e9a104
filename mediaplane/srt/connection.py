"""One SRT live-mode connection, sans-IO: its state machine, handshake, keys and packet dispatch.

:class:`SrtConnection` is UDP-shaped (STYLE.md): ``receive_datagram(data, addr, now)``,
``datagrams_to_send(now)``, ``get_timer()``, ``handle_timer(now)``, ``next_event()`` and the command
``send(payload, now)``. Time is monotonic seconds passed in; randomness comes from an injected
``random.Random``. A caller connection starts with :meth:`SrtConnection.connect`; a listener-side one
is made by :meth:`SrtConnection.accept` from a conclusion handshake that
:class:`~.acceptor.SrtAcceptor` validated (SYN cookie) and the application agreed to.

The data path lives in two parts that own their buffers, as gosrt's ``congestion/live`` does: the
:class:`~.sender.LiveSender` (send buffer, NAK and timeout retransmission, sender drop) and the
:class:`~.receiver.LiveReceiver` (receive buffer, TSBPD release, ACK, NAK, RTT samples). The
connection routes packets to them, runs their ``tick(now)`` and merges their ``next_deadline()``.

References: draft-sharabayko-srt sections 3 (packets), 4.3 (handshake: induction then conclusion,
HSv5), 4.5-4.8 (TSBPD, ACK/ACKACK/NAK, too-late drop), 6 (encryption).
"""

from __future__ import annotations

import collections
import enum
import logging
import random
import struct

from .circular import SEQ_MASK, TIMESTAMP_MASK
from .config import SrtConfig
from .errors import (
    LocalProtocolError,
    ParseError,
    RejectReason,
    RemoteProtocolError,
    reject_reason_name,
)
from .events import ConnectionClosed, ConnectionEstablished, Event, KeysRefreshed
from .handshake import (
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
    make_rejection,
    parse_handshake,
)
from .keymaterial import BadSecret, KeyMaterialMessage, KeySet, KmState, SenderKeys, new_keyset
from .packet import (
    HEADER_SIZE,
    Ack,
    AckAck,
    AckKind,
    ControlType,
    DropRequest,
    Keepalive,
    KeyMaterialPacket,
    Nak,
    Shutdown,
    UserSubtype,
    parse_control,
)
from .receiver import RATE_WINDOW_S, LiveReceiver
from .sender import LiveSender
from .stats import RttEstimate, SrtStats

logger = logging.getLogger(__name__)

Addr = tuple[str, int]

KEEPALIVE_INTERVAL_S = 1.0
"""A KEEPALIVE after this long without sending anything (section 3.2.3; libsrt COMM_KEEPALIVE_PERIOD_US)."""
KM_RETRY_S = 0.5
"""Resend a KMREQ not answered by a KMRSP after this long (section 3.2.4)."""
KM_MAX_RETRIES = 10
"""KMREQ sends before giving up on an answer (libsrt SRT_MAX_KMRETRY)."""
_U32 = struct.Struct(">I")


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
        self.rtt = RttEstimate(self.stats)
        self.close_reason: str | None = None
        self.reject_reason: int | None = None
        self.latency_ms = config.latency_ms
        self.peer_latency_ms = config.latency_ms
        self._start = now
        self._out: list[bytes] = []
        self._events: collections.deque[Event] = collections.deque()
        self._log: logging.LoggerAdapter = logging.LoggerAdapter(logger, {})  # type: ignore[type-arg]
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
        self._too_late_drop = config.too_late_drop
        # Data path (made again for the peer's initial sequence number when accepting).
        self._make_data_path(self._isn, now)
        self._last_recv = now
        self._last_send = now
        self._rate_start = now

    def _make_data_path(self, isn: int, now: float) -> None:
        cfg = self.config
        self.sender = LiveSender(
            isn,
            max_packets=cfg.send_buffer_packets,
            out=self._out,
            stats=self.stats,
            rtt=self.rtt,
            start=self._start,
            log=self._log,
        )
        self.receiver = LiveReceiver(
            isn,
            capacity=cfg.recv_buffer_packets,
            nak_report=cfg.nak_report,
            out=self._out,
            events=self._events,
            stats=self.stats,
            rtt=self.rtt,
            start=self._start,
            log=self._log,
        )

    def __repr__(self) -> str:
        return (
            f"<SrtConnection {self.peer_addr[0]}:{self.peer_addr[1]} sock={self.socket_id:#x} "
            f"peer={self.peer_socket_id:#x} {self.state.value}>"
        )

    def set_log_prefix(self, prefix: str) -> None:
        """Prefix this connection's log lines (the adapter's ``[srt 127.0.0.1:5000]``)."""
        self._log = _PrefixAdapter(logger, {"prefix": prefix})
        self.sender.log = self.receiver.log = self._log

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
        self._too_late_drop = self.config.too_late_drop and bool(ext.flags & SrtFlag.TLPKTDROP)

    def _established(self, hs: Handshake, now: float) -> None:
        # TSBPD base: local time the peer's clock read hs.timestamp (libsrt: m_tsRcvPeerStartTime).
        snd, rcv = self.sender, self.receiver
        snd.peer_socket_id = rcv.peer_socket_id = self.peer_socket_id
        snd.keys = self._snd_keys
        rcv.keys = self._rcv_keys
        rcv.encrypted = self.encrypted
        rcv.start(hs.timestamp, now, latency_ms=self.latency_ms, too_late_drop=self._too_late_drop)
        snd.start(now, drop_after_s=(self.peer_latency_ms + self.config.send_drop_delay_ms) / 1000)
        self._last_recv = now
        self._last_send = now
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
        self._make_data_path(self._isn, now)
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
                self.receiver.push(data, now)
            return
        try:
            self._receive_control(data, now)
        except ParseError as exc:
            self._log.warning("malformed control packet: %s", exc)
            self._close(f"malformed packet: {exc}", now)
        except RemoteProtocolError as exc:
            self._log.warning("protocol error: %s", exc)
            self._close(f"protocol error: {exc}", now)

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
            self.receiver.handle_ackack(pkt.ack_number, now)
        elif isinstance(pkt, Nak):
            self.stats.pkt_recv_nak_total += 1
            self.sender.handle_nak(pkt.losses, now)
            self._last_send = now
        elif isinstance(pkt, Keepalive):
            pass
        elif isinstance(pkt, Shutdown):
            # Hand over what already arrived, as libsrt lets the application read it after a break.
            self.receiver.flush()
            self._close("peer shut down", now, by_peer=True, send_shutdown=False)
        elif isinstance(pkt, DropRequest):
            self.receiver.handle_dropreq(pkt.first_seq, pkt.last_seq)
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
        self.stats.pkt_recv_ack_total += 1
        self.sender.handle_ack(ack.last_ack_seq)
        if ack.kind is not AckKind.LIGHT and ack.rtt_us:
            # A pure sender learns the RTT from the receiver's ACKs; our own ACKACK samples win when
            # we receive too. The peer's estimate also paces our ACK-timeout retransmission.
            self.rtt.from_peer(ack.rtt_us, ack.rtt_var_us)
        if ack.kind is AckKind.FULL:
            self._emit(
                AckAck(
                    timestamp=self._timestamp(now),
                    dest_socket_id=self.peer_socket_id,
                    ack_number=ack.ack_number,
                ).encode(),
                now,
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
                    self._rcv_keys = self.receiver.keys = keys
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
        if self.sender.push(payload, now):
            self._announce_keys(now)

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
        snd, rcv = self.sender, self.receiver
        t = self._last_recv + self.config.peer_idle_timeout_ms / 1000
        k = max(self._last_send, snd.last_send, rcv.last_send) + KEEPALIVE_INTERVAL_S
        if k < t:
            t = k
        c = self._km_next_retry
        if c is not None and c < t:
            t = c
        c = rcv.next_deadline()
        if c is not None and c < t:
            t = c
        c = snd.next_deadline()
        if c is not None and c < t:
            t = c
        return t

    def handle_timer(self, now: float) -> None:
        """Run whatever is due at ``now``: handshake retries and timeout, the receiver's TSBPD
        release, ACK and NAK, the sender's drop and retransmission timer, key announcements,
        keepalive, peer idle timeout."""
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
        snd, rcv = self.sender, self.receiver
        rcv.tick(now)
        snd.tick(now)
        if now - self._rate_start >= RATE_WINDOW_S:
            self._update_send_rate(now)
        if self._km_next_retry is not None and now >= self._km_next_retry and self._km_pending is not None:
            self._send_km(now)
        if now >= max(self._last_send, snd.last_send, rcv.last_send) + KEEPALIVE_INTERVAL_S:
            self._emit(
                Keepalive(timestamp=self._timestamp(now), dest_socket_id=self.peer_socket_id).encode(), now
            )

    def _update_send_rate(self, now: float) -> None:
        snd = self.sender
        self.stats.send_rate_mbps = snd.rate_sent_bytes * 8 / (now - self._rate_start) / 1e6
        self.stats.send_buffer_packets = len(snd.buffer)
        snd.rate_sent_bytes = 0
        self._rate_start = now

    # -- output, events, close ------------------------------------------------------------------
    def datagrams_to_send(self, now: float) -> list[bytes]:
        """Datagrams for :attr:`peer_addr`, oldest first."""
        out = self._out
        if not out:
            return []
        # The sender and receiver append to this same list: hand over a copy, keep the list.
        sent = out.copy()
        out.clear()
        return sent

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


__all__ = ["ConnectionState", "SrtConnection"]
