"""The SRT package's error root and the reject reasons libsrt puts on the wire."""

from __future__ import annotations

import enum


class SrtError(Exception):
    """Root of every error raised by :mod:`mediaplane.srt`."""


class RemoteProtocolError(SrtError):
    """The peer sent something we cannot accept."""


class ParseError(RemoteProtocolError):
    """A datagram could not be decoded; ``str(exc)`` is a stable message tests may assert."""


class LocalProtocolError(SrtError):
    """Our own caller misused the API (sending before connected, bad config, ...)."""


class ConfigError(LocalProtocolError):
    """An :class:`~mediaplane.srt.config.SrtConfig` field is out of range."""


class RejectReason(enum.IntEnum):
    """``SRT_REJECT_REASON`` from libsrt (srt.h); on the wire a rejecting handshake carries
    ``1000 + reason`` in its handshake-type field."""

    UNKNOWN = 0
    SYSTEM = 1
    PEER = 2
    RESOURCE = 3
    ROGUE = 4
    BACKLOG = 5
    IPE = 6
    CLOSE = 7
    VERSION = 8
    RDVCOOKIE = 9
    BADSECRET = 10
    UNSECURE = 11
    MESSAGEAPI = 12
    CONGESTION = 13
    FILTER = 14
    GROUP = 15
    TIMEOUT = 16
    CRYPTO = 17
    # SRT_REJC_PREDEFINED (1000) + HTTP-like codes from the access-control spec (access_control.h).
    X_BAD_REQUEST = 1400
    X_UNAUTHORIZED = 1401
    X_OVERLOAD = 1402
    X_FORBIDDEN = 1403
    X_NOTFOUND = 1404
    X_BAD_MODE = 1405
    X_UNACCEPTABLE = 1406
    X_CONFLICT = 1409
    X_NOTSUP_MEDIA = 1415
    X_LOCKED = 1423
    X_FAILED_DEPEND = 1424
    X_ISE = 1500
    X_UNIMPLEMENTED = 1501
    X_GW = 1502
    X_DOWN = 1503
    X_VERSION = 1505
    X_NOROOM = 1507


REJECT_WIRE_BASE = 1000
"""``URQ_FAILURE_TYPE_MIN``: a handshake type of ``1000 + reason`` is a rejection."""


def reject_reason_name(code: int) -> str:
    """``SRT_REJ_BADSECRET`` style name of a reason code (``SRT_REJX_FORBIDDEN`` for access codes)."""
    try:
        reason = RejectReason(code)
    except ValueError:
        return f"SRT_REJ_{code}" if code < 1000 else f"SRT_REJX_{code}"
    if reason.name.startswith("X_"):
        return "SRT_REJX_" + reason.name[2:]
    return "SRT_REJ_" + reason.name


class ConnectionRejected(SrtError):
    """The peer (or our accept hook) refused the handshake with ``reason``."""

    def __init__(self, reason: int, message: str = "") -> None:
        self.reason = reason
        self.reason_name = reject_reason_name(reason)
        super().__init__(f"connection rejected: {self.reason_name}" + (f" ({message})" if message else ""))


class ConnectTimeout(SrtError):
    """The peer did not answer the handshake within ``SRTO_CONNTIMEO``."""
