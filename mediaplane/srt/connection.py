"""One SRT live-mode connection, sans-IO: its state machine, handshake and packet dispatch.

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
The key exchange (KMREQ/KMRSP, in the handshake and in band) is :class:`~.keying.KeyExchange`'s; the
handshakes themselves and what they settle are built by :mod:`.negotiation`.

References: draft-sharabayko-srt sections 3 (packets), 4.3 (handshake: induction then conclusion,
HSv5), 4.5-4.8 (TSBPD, ACK/ACKACK/NAK, too-late drop), 6 (encryption).
"""

from __future__ import annotations

import collections
import enum
import logging
import random

from .circular import SEQ_MASK, TIMESTAMP_MASK
from .config import SrtConfig
from .errors import LocalProtocolError, ParseError, RejectReason, RemoteProtocolError, reject_reason_name
from .events import ConnectionClosed, ConnectionEstablished, Event
from .handshake import (
    HS_VERSION_SRT1,
    SRT_MAGIC_CODE,
    Handshake,
    HandshakeType,
    SrtHandshakeExtension,
    make_rejection,
    parse_handshake,
)
from .keying import KeyExchange
from .negotiation import caller_conclusion, induction_request, listener_response, negotiate, srt_extension
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
        self._km = KeyExchange(config, rng, stats=self.stats, events=self._events, log=self._log)
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
        self.sender.log = self.receiver.log = self._km.log = self._log

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

    @property
    def encrypted(self) -> bool:
        return self._km.encrypted

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
        hs = induction_request(
            self.config,
            timestamp=self._timestamp(now),
            socket_id=self.socket_id,
            initial_seq=self._isn,
            peer_host=self.peer_addr[0],
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
        conclusion = caller_conclusion(
            self.config,
            timestamp=self._timestamp(now),
            socket_id=self.socket_id,
            initial_seq=self._isn,
            peer_host=self.peer_addr[0],
            cookie=self._cookie,
            hsreq=self._our_srt_extension(),
            kmreq=self._km.caller_kmreq(),
        )
        self._send_handshake(conclusion.encode(), now)

    def _our_srt_extension(self) -> SrtHandshakeExtension:
        return srt_extension(self.config, latency_ms=self.latency_ms, peer_latency_ms=self.peer_latency_ms)

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
        refusal = self._km.caller_kmrsp(hs.kmrsp)
        if refusal is not None:
            self._fail(refusal.reason, refusal.message, now)
            return
        self.peer_socket_id = hs.socket_id
        self._negotiate(hs.hsrsp)
        self._set_state(_Input.CONCLUSION_RESPONSE)
        self._hs_packet = None
        self._hs_next_retry = None
        self._connect_deadline = None
        self._established(hs, now)

    def _negotiate(self, ext: SrtHandshakeExtension) -> None:
        self.latency_ms, self.peer_latency_ms, self._too_late_drop = negotiate(self.config, ext)

    def _established(self, hs: Handshake, now: float) -> None:
        # TSBPD base: local time the peer's clock read hs.timestamp (libsrt: m_tsRcvPeerStartTime).
        snd, rcv = self.sender, self.receiver
        snd.peer_socket_id = rcv.peer_socket_id = self.peer_socket_id
        km = self._km
        snd.keys = km.snd
        rcv.keys = km.rcv
        rcv.encrypted = km.encrypted
        rcv.start(hs.timestamp, now, latency_ms=self.latency_ms, too_late_drop=self._too_late_drop)
        snd.start(now, drop_after_s=(self.peer_latency_ms + self.config.send_drop_delay_ms) / 1000)
        self._last_recv = now
        self._last_send = now
        self._rate_start = now
        self.stats.latency_ms = self.latency_ms
        ks = km.snd.keys if km.snd is not None else None
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
        self.peer_socket_id = hs.socket_id
        self.stream_id = hs.stream_id or ""
        self._isn = hs.initial_seq
        self._make_data_path(self._isn, now)
        if hs.version != HS_VERSION_SRT1 or hs.hsreq is None:
            self._reject(hs, RejectReason.VERSION, "caller does not speak HSv5 with HSREQ", now)
            return
        kmrsp, refusal = self._km.listener_kmreq(hs.kmreq)
        if refusal is not None:
            self._reject(hs, refusal.reason, refusal.message, now)
            return
        self._negotiate(hs.hsreq)
        response = listener_response(
            self.config,
            hs,
            timestamp=self._timestamp(now),
            socket_id=self.socket_id,
            initial_seq=self._isn,
            peer_host=self.peer_addr[0],
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
        body = self._km.handle_packet(pkt)
        if body is None:
            return
        # A first KMREQ after a handshake without keys gives the receiver its KeySet; later ones
        # update that same object in place.
        self.receiver.keys = self._km.rcv
        self._send_km(UserSubtype.KMRSP, body, now)

    # -- sending --------------------------------------------------------------------------------
    def send(self, payload: bytes, now: float) -> None:
        """Queue one payload (at most ``config.payload_size`` bytes, e.g. 1316 bytes of MPEG-TS) as
        one data packet. Ignored with a debug log when not connected."""
        if self.state is not ConnectionState.CONNECTED:
            if self._log.isEnabledFor(logging.DEBUG):
                self._log.debug("dropping payload: not connected")
            return
        if self.sender.push(payload, now):
            self._km.announce()
            self._send_km(UserSubtype.KMREQ, self._km.kmreq_to_send(now), now)

    def _send_km(self, subtype: UserSubtype, body: bytes, now: float) -> None:
        self._emit(
            KeyMaterialPacket(
                timestamp=self._timestamp(now), dest_socket_id=self.peer_socket_id, subtype=subtype, body=body
            ).encode(),
            now,
        )

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
        c = self._km.next_retry
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
        if self._km.retry_due(now):
            self._send_km(UserSubtype.KMREQ, self._km.kmreq_to_send(now), now)
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
