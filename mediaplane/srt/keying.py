"""A connection's key exchange, sans-IO: KMREQ/KMRSP in the handshake and the in-band key refresh.

:class:`KeyExchange` holds the keys each direction uses, decides what a handshake's KM extension
means for the connection (go on, or refuse with which reason) and keeps the KMREQ that announces our
refreshed keys until the peer answers it. It builds bodies, not packets: the connection addresses,
timestamps and queues them, so its send and keepalive bookkeeping stays in one place.

References: draft-sharabayko-srt sections 3.2.2 (KM message), 3.2.4 (KMREQ/KMRSP) and 6
(encryption); libsrt's ``CCryptoControl`` does the same job.
"""

from __future__ import annotations

import collections
import logging
import random
import struct
from typing import NamedTuple

from .config import SrtConfig
from .errors import ParseError, RejectReason
from .events import Event, KeysRefreshed
from .keymaterial import BadSecret, KeyMaterialMessage, KeySet, KmState, SenderKeys, new_keyset
from .packet import KeyMaterialPacket, UserSubtype
from .stats import SrtStats

KM_RETRY_S = 0.5
"""Resend a KMREQ not answered by a KMRSP after this long (section 3.2.4)."""
KM_MAX_RETRIES = 10
"""KMREQ sends before giving up on an answer (libsrt SRT_MAX_KMRETRY)."""
_U32 = struct.Struct(">I")


class Refusal(NamedTuple):
    """Why the handshake's key material ends the connection: the reject code and a log message."""

    reason: RejectReason
    message: str


class KeyExchange:
    """Our keys and the peer's, plus the KMREQ awaiting its KMRSP; see the module docstring."""

    def __init__(
        self,
        config: SrtConfig,
        rng: random.Random,
        *,
        stats: SrtStats,
        events: collections.deque[Event],
        log: logging.LoggerAdapter,  # type: ignore[type-arg]
    ) -> None:
        self._config = config
        self._rng = rng
        self._stats = stats
        self._events = events
        self.log = log
        self.snd: SenderKeys | None = None
        self.rcv: KeySet | None = None
        self.encrypted = False
        self.pending: bytes | None = None
        """The KMREQ body the peer has not answered yet."""
        self.next_retry: float | None = None
        self._retries = 0

    def _sender_keys(self, keys: KeySet) -> SenderKeys:
        cfg = self._config
        return SenderKeys(keys, self._rng, refresh_rate=cfg.km_refresh_rate, preannounce=cfg.km_preannounce)

    # -- handshake ------------------------------------------------------------------------------
    def caller_kmreq(self) -> bytes | None:
        """The caller's conclusion KMREQ: fresh sending keys when we have a passphrase, else None."""
        cfg = self._config
        if not cfg.passphrase:
            return None
        keys = new_keyset(self._rng, cfg.pbkeylen)
        kmreq = keys.to_message(cfg.passphrase).encode()
        self.snd = self._sender_keys(keys)
        return kmreq

    def caller_kmrsp(self, kmrsp: bytes | None) -> Refusal | None:
        """Judge the listener's conclusion KMRSP; on success the peer sends with our keys too."""
        cfg = self._config
        if cfg.passphrase:
            if kmrsp is None:
                return Refusal(RejectReason.UNSECURE, "peer has no passphrase")
            if len(kmrsp) == 4:
                state = _U32.unpack(kmrsp)[0]
                return Refusal(
                    RejectReason.BADSECRET if state == KmState.BADSECRET else RejectReason.UNSECURE,
                    f"peer key material state {state}",
                )
            assert self.snd is not None
            ks = self.snd.keys
            # A copy: our refreshes change our sending keys, never the ones the peer's packets decrypt with.
            self.rcv = KeySet(salt=ks.salt, key_len=ks.key_len, even=ks.even, odd=ks.odd)
            self.encrypted = True
        elif kmrsp is not None and cfg.enforced_encryption:
            return Refusal(RejectReason.UNSECURE, "peer wants encryption, we have no passphrase")
        return None

    def listener_kmreq(self, kmreq: bytes | None) -> tuple[bytes | None, Refusal | None]:
        """Answer the caller's conclusion KMREQ: the KMRSP for our response (None: no KM
        extension), or the refusal that rejects the caller."""
        cfg = self._config
        if kmreq is None:
            if cfg.passphrase and cfg.enforced_encryption:
                return None, Refusal(RejectReason.UNSECURE, "caller does not encrypt")
            return None, None
        if not cfg.passphrase:
            if cfg.enforced_encryption:
                return None, Refusal(RejectReason.UNSECURE, "caller encrypts, we have no passphrase")
            return _U32.pack(KmState.NOSECRET), None
        try:
            keys = KeySet.from_message(KeyMaterialMessage.decode(kmreq), cfg.passphrase)
        except BadSecret:
            return None, Refusal(RejectReason.BADSECRET, "wrong passphrase")
        except ParseError as exc:
            return None, Refusal(RejectReason.CRYPTO, f"bad key material: {exc}")
        self.rcv = keys
        self.snd = self._sender_keys(
            KeySet(salt=keys.salt, key_len=keys.key_len, even=keys.even, odd=keys.odd)
        )
        self.encrypted = True
        # The KMRSP that says "secured" echoes the KMREQ.
        return kmreq, None

    # -- in-band refresh ------------------------------------------------------------------------
    def handle_packet(self, pkt: KeyMaterialPacket) -> bytes | None:
        """A KMREQ or KMRSP control packet. Returns the KMRSP body to send back, or None."""
        if pkt.subtype is UserSubtype.KMRSP:
            if self.pending is not None and (pkt.body == self.pending or len(pkt.body) == 4):
                if len(pkt.body) == 4:
                    self.log.warning("peer refused our new keys (state %d)", _U32.unpack(pkt.body[:4])[0])
                self.pending = None
                self.next_retry = None
            return None
        # KMREQ: the peer refreshes its keys.
        passphrase = self._config.passphrase
        if not passphrase:
            return _U32.pack(KmState.NOSECRET)
        try:
            keys = KeySet.from_message(KeyMaterialMessage.decode(pkt.body), passphrase)
        except (BadSecret, ParseError) as exc:
            self.log.warning("peer key refresh refused: %s", exc)
            return _U32.pack(KmState.BADSECRET)
        if self.rcv is None:
            self.rcv = keys
        else:
            # In place: the receiver holds this same KeySet.
            self.rcv.update_from(keys)
        self._stats.km_refreshes += 1
        self._events.append(KeysRefreshed(key_flags=int(keys.flags())))
        return pkt.body

    def announce(self) -> None:
        """Our sender just refreshed its keys: make the KMREQ that tells the peer (send it with
        :meth:`kmreq_to_send`)."""
        assert self.snd is not None
        self.pending = self.snd.keys.to_message(self._config.passphrase).encode()
        self._retries = 0
        self._stats.km_refreshes += 1

    def retry_due(self, now: float) -> bool:
        t = self.next_retry
        return t is not None and now >= t and self.pending is not None

    def kmreq_to_send(self, now: float) -> bytes:
        """The pending KMREQ body, sent at ``now``: counts the send and schedules the next retry."""
        assert self.pending is not None
        self._retries += 1
        self.next_retry = now + KM_RETRY_S if self._retries < KM_MAX_RETRIES else None
        return self.pending


__all__ = ["KM_MAX_RETRIES", "KM_RETRY_S", "KeyExchange", "Refusal"]
