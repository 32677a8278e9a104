"""The RTMP package's error hierarchy: one root, remote vs local, and parse errors with stable messages."""

from __future__ import annotations


class RtmpError(Exception):
    """Root of every error raised by :mod:`mediaplane.rtmp`."""


class RemoteProtocolError(RtmpError):
    """The peer sent something the protocol does not allow; the session must end."""


class ParseError(RemoteProtocolError):
    """Bytes could not be parsed. ``str(exc)`` is a stable message that tests and logs can rely on."""


class LocalProtocolError(RtmpError):
    """Our own caller misused the API (a command in the wrong state, an impossible value)."""
