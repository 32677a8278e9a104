"""SRT options: one frozen dataclass whose fields name the libsrt option they stand for, and the
``srt://host:port?mode=...&latency=...`` URL form ffmpeg uses."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from urllib.parse import unquote

from .errors import ConfigError
from .keymaterial import KEY_LENGTHS, MAX_PASSPHRASE, MIN_PASSPHRASE

DEFAULT_PAYLOAD_SIZE = 1316
"""SRT_LIVE_DEF_PLSIZE: seven 188-byte MPEG-TS packets."""
MAX_PAYLOAD_SIZE = 1456
"""SRT_LIVE_MAX_PLSIZE: 1500 MSS minus IPv4/UDP/SRT headers."""
UDP_SRT_OVERHEAD = 44
"""IPv4 (20) + UDP (8) + SRT header (16)."""


class SrtMode(enum.StrEnum):
    CALLER = "caller"
    LISTENER = "listener"
    RENDEZVOUS = "rendezvous"


class SrtDirection(enum.StrEnum):
    """Which way an endpoint's media goes, named by what the caller of each connection does (as the
    stream id's ``m=`` is): the same member means the same flow on an :class:`SrtListener` and an
    :class:`SrtCaller`."""

    PUBLISH = "publish"
    """The caller sends: a listener's callers publish into it, a caller publishes its hub."""
    PLAY = "play"
    """The listener sends: a listener's callers play from it, a caller feeds its hub with what it gets."""
    STREAMID = "streamid"
    """Listener only: each caller's stream id decides (``m=publish`` publishes, anything else plays)."""

    @classmethod
    def _missing_(cls, value: object) -> SrtDirection | None:
        # SrtCaller's former name for PLAY, so direction="receive" keeps working.
        return cls.PLAY if value == "receive" else None


@dataclass(frozen=True, slots=True, kw_only=True)
class SrtConfig:
    """Options of one SRT socket (libsrt ``SRTO_*`` names in the comments; units in field names)."""

    latency_ms: int = 120  # SRTO_LATENCY
    """Receive latency we propose (both directions); the connection uses the larger of both sides'."""
    passphrase: str = ""  # SRTO_PASSPHRASE
    """Empty: no encryption. Otherwise 10..79 characters."""
    pbkeylen: int = 16  # SRTO_PBKEYLEN
    """AES key length in bytes when we initiate encryption: 16, 24 or 32."""
    streamid: str = ""  # SRTO_STREAMID
    """Stream id a caller sends (``#!::r=...,m=publish``); up to 512 bytes."""
    peer_idle_timeout_ms: int = 5000  # SRTO_PEERIDLETIMEO
    """The connection breaks when nothing arrives from the peer for this long."""
    connect_timeout_ms: int = 3000  # SRTO_CONNTIMEO
    """A caller gives up when the handshake is not answered within this time."""
    mss: int = 1500  # SRTO_MSS
    """Maximum segment size announced in the handshake (IP packet size)."""
    payload_size: int = DEFAULT_PAYLOAD_SIZE  # SRTO_PAYLOADSIZE
    """Largest payload of one data packet."""
    flow_window: int = 25600  # SRTO_FC
    """Flow-control window in packets announced in the handshake."""
    enforced_encryption: bool = True  # SRTO_ENFORCEDENCRYPTION
    """Refuse a peer whose encryption setting differs (SRT_REJ_UNSECURE)."""
    too_late_drop: bool = True  # SRTO_TLPKTDROP
    """Skip packets that missed their TSBPD time instead of waiting for them."""
    nak_report: bool = True  # SRTO_NAKREPORT
    """Send periodic NAK reports besides the immediate one."""
    send_drop_delay_ms: int = 1000  # SRTO_SNDDROPDELAY
    """The sender forgets unacknowledged packets older than latency plus this delay."""
    km_refresh_rate: int = 1 << 24  # SRTO_KMREFRESHRATE
    """Packets sent with one key before switching to the next one."""
    km_preannounce: int = 4096  # SRTO_KMPREANNOUNCE
    """Packets before (and after) a switch during which both keys are announced."""
    send_buffer_packets: int = 8192  # SRTO_SNDBUF (in packets rather than bytes)
    """Unacknowledged packets kept for retransmission; the oldest is given up beyond this. It also
    bounds the work one NAK can ask for."""
    recv_buffer_packets: int = 8192  # SRTO_RCVBUF (in packets rather than bytes)
    """Receive buffer capacity reported in ACKs and used to bound loss lists."""
    udp_recv_buffer_bytes: int = 8 * 1024 * 1024  # SRTO_UDP_RCVBUF
    """Kernel receive buffer asked for the UDP socket, so bursts are not lost before we read them."""
    udp_send_buffer_bytes: int = 4 * 1024 * 1024  # SRTO_UDP_SNDBUF
    handshake_retry_ms: int = 250
    """Interval between handshake retransmissions (libsrt's fixed 250 ms)."""

    def validate(self) -> SrtConfig:
        """Check every field; returns self. Raises ConfigError naming the field."""
        if not 0 <= self.latency_ms <= 0xFFFF:
            raise ConfigError("latency_ms must be 0..65535")
        if self.passphrase and not MIN_PASSPHRASE <= len(self.passphrase) <= MAX_PASSPHRASE:
            raise ConfigError(f"passphrase must be {MIN_PASSPHRASE}..{MAX_PASSPHRASE} characters")
        if self.pbkeylen not in KEY_LENGTHS:
            raise ConfigError("pbkeylen must be 16, 24 or 32")
        if len(self.streamid.encode("utf-8")) > 512:
            raise ConfigError("streamid must be at most 512 bytes")
        if self.peer_idle_timeout_ms <= 0:
            raise ConfigError("peer_idle_timeout_ms must be positive")
        if self.connect_timeout_ms <= 0:
            raise ConfigError("connect_timeout_ms must be positive")
        if not 76 <= self.mss <= 65536:
            raise ConfigError("mss must be 76..65536")
        if not 1 <= self.payload_size <= min(MAX_PAYLOAD_SIZE, self.mss - UDP_SRT_OVERHEAD):
            raise ConfigError("payload_size must fit in mss minus headers (at most 1456)")
        if self.flow_window < 32:
            raise ConfigError("flow_window must be at least 32")
        if self.send_drop_delay_ms < 0:
            raise ConfigError("send_drop_delay_ms must be >= 0")
        if self.km_refresh_rate < 2 or not 1 <= self.km_preannounce <= self.km_refresh_rate // 2:
            raise ConfigError("km_preannounce must be 1..km_refresh_rate/2")
        if self.send_buffer_packets < 32:
            raise ConfigError("send_buffer_packets must be at least 32")
        if self.recv_buffer_packets < 32:
            raise ConfigError("recv_buffer_packets must be at least 32")
        if self.handshake_retry_ms <= 0:
            raise ConfigError("handshake_retry_ms must be positive")
        return self

    def replace(self, **changes: object) -> SrtConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeLimits:
    """How much handshake work an SRT listener does for callers that have proved nothing yet.

    Token buckets, per caller IP address and for the whole listener, refilled continuously (rate
    per second, up to the burst). An induction costs a reply; a conclusion whose SYN cookie checks
    out may cost a PBKDF2 key unwrap (about 2 ms of CPU with a passphrase) and a route lookup. Over a
    limit the handshake is dropped silently, never rejected: a real libsrt caller repeats its
    handshake every 250 ms until SRTO_CONNTIMEO and gets in once the flood stops using its tokens,
    whereas a rejection would end its attempt at once (and answer forged source addresses). A
    conclusion with a bad cookie is dropped before it takes a token. The per-address check comes
    first, so a flood from one address does not use up the listener's total.
    """

    induction_per_addr_per_s: float = 50.0
    """Inductions answered per second for one source IP address."""
    induction_burst_per_addr: int = 100
    """Inductions one address may send at once before its rate applies."""
    induction_per_s: float = 1000.0
    """Inductions answered per second by the whole listener."""
    induction_burst: int = 2000
    conclusion_per_addr_per_s: float = 10.0
    """Cookie-checked conclusions processed per second for one source IP address."""
    conclusion_burst_per_addr: int = 20
    conclusion_per_s: float = 20.0
    """Cookie-checked conclusions processed per second by the whole listener (bounds PBKDF2 work)."""
    conclusion_burst: int = 40
    tracked_addresses: int = 1024
    """Per-address buckets kept; the oldest is forgotten beyond this (the total still applies)."""
    summary_interval_s: float = 10.0
    """At most one INFO summary of dropped handshakes per this many seconds (details at DEBUG)."""
    info_refusals_per_interval: int = 10
    """Refused callers logged at INFO per summary interval; the rest at DEBUG, counted."""

    def validate(self) -> HandshakeLimits:
        """Check every field; returns self. Raises ConfigError naming the field."""
        for name in (
            "induction_per_addr_per_s",
            "induction_per_s",
            "conclusion_per_addr_per_s",
            "conclusion_per_s",
            "summary_interval_s",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive")
        for name in (
            "induction_burst_per_addr",
            "induction_burst",
            "conclusion_burst_per_addr",
            "conclusion_burst",
            "tracked_addresses",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.info_refusals_per_interval < 0:
            raise ConfigError("info_refusals_per_interval must be >= 0")
        return self


def _bool(value: str) -> bool:
    v = value.lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def parse_srt_url(url: str, *, base: SrtConfig | None = None) -> tuple[str, int, SrtConfig, SrtMode]:
    """Parse ``srt://host:port?query`` as ffmpeg does. Returns ``(host, port, config, mode)``.

    Query keys (ffmpeg units): ``mode`` (caller, listener, rendezvous), ``latency`` / ``rcvlatency`` /
    ``peerlatency`` / ``tsbpddelay`` in microseconds, ``passphrase``, ``pbkeylen`` (bytes), ``streamid``
    / ``srt_streamid``, ``connect_timeout`` (ms), ``peeridletimeo`` (ms), ``payload_size`` / ``pkt_size``,
    ``mss``, ``ffs``, ``tlpktdrop``, ``nakreport``, ``enforced_encryption``, ``kmrefreshrate``,
    ``kmpreannounce``, ``snddropdelay`` (microseconds), ``rcvbuf``, ``sndbuf`` (bytes). The query is
    split by hand because stream ids contain ``#``; values are percent-decoded. Unknown keys are
    ignored as ffmpeg does. Raises ConfigError.
    """
    if not url.startswith("srt://"):
        raise ConfigError("not an srt:// URL")
    rest = url[len("srt://") :]
    hostport, _, query = rest.partition("?")
    hostport = hostport.rstrip("/")
    if hostport.startswith("["):
        host, _, port_s = hostport[1:].partition("]:")
    else:
        host, _, port_s = hostport.rpartition(":")
    try:
        port = int(port_s)
    except ValueError as exc:
        raise ConfigError("srt:// URL needs a numeric port") from exc
    if not 0 <= port <= 65535:
        raise ConfigError("port out of range")
    cfg = base or SrtConfig()
    changes: dict[str, object] = {}
    mode = SrtMode.CALLER
    for item in query.split("&"):
        if not item:
            continue
        key, _, raw = item.partition("=")
        value = unquote(raw)
        try:
            if key == "mode":
                mode = SrtMode(value)
            elif key in ("latency", "rcvlatency", "tsbpddelay", "peerlatency"):
                changes["latency_ms"] = max(int(changes.get("latency_ms", 0)), int(value) // 1000)  # type: ignore[call-overload]
            elif key == "passphrase":
                changes["passphrase"] = value
            elif key == "pbkeylen":
                changes["pbkeylen"] = int(value)
            elif key in ("streamid", "srt_streamid"):
                changes["streamid"] = value
            elif key == "connect_timeout":
                changes["connect_timeout_ms"] = int(value)
            elif key == "peeridletimeo":
                changes["peer_idle_timeout_ms"] = int(value)
            elif key in ("payload_size", "pkt_size"):
                changes["payload_size"] = int(value)
            elif key == "mss":
                changes["mss"] = int(value)
            elif key == "ffs":
                changes["flow_window"] = int(value)
            elif key == "tlpktdrop":
                changes["too_late_drop"] = _bool(value)
            elif key == "nakreport":
                changes["nak_report"] = _bool(value)
            elif key == "enforced_encryption":
                changes["enforced_encryption"] = _bool(value)
            elif key == "kmrefreshrate":
                changes["km_refresh_rate"] = int(value)
            elif key == "kmpreannounce":
                changes["km_preannounce"] = int(value)
            elif key == "snddropdelay":
                changes["send_drop_delay_ms"] = int(value) // 1000
            elif key == "rcvbuf":
                changes["recv_buffer_packets"] = max(32, int(value) // DEFAULT_PAYLOAD_SIZE)
            elif key == "sndbuf":
                changes["send_buffer_packets"] = max(32, int(value) // DEFAULT_PAYLOAD_SIZE)
        except ValueError as exc:
            raise ConfigError(f"bad value for {key}: {value!r}") from exc
    cfg = dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]
    return host, port, cfg.validate(), mode
