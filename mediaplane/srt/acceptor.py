"""The listener's front door, sans-IO: stateless induction answers and the SYN-cookie check of
conclusions (draft-sharabayko-srt section 4.3.1.1), bounded by :class:`HandshakeLimits` token buckets,
before any connection state exists."""

from __future__ import annotations

import hashlib
import logging
import random
import struct
from dataclasses import dataclass, field

from .config import HandshakeLimits, SrtConfig
from .errors import ParseError
from .handshake import (
    HANDSHAKE_PACKET_SIZE,
    HS_VERSION_SRT1,
    HS_VERSION_UDT4,
    SRT_MAGIC_CODE,
    Handshake,
    HandshakeType,
    encode_peer_ip,
    make_rejection,
    parse_handshake,
)

logger = logging.getLogger(__name__)

Addr = tuple[str, int]
_U32 = struct.Struct(">I")

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


__all__ = ["COOKIE_PERIOD_S", "AcceptorStats", "SrtAcceptor", "TokenBucket"]
