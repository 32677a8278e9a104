"""The SRT access-control stream id (``#!::r=live/abc,m=publish``) and how it maps to a StreamPath.

SRT access control spec (libsrt docs/features/access-control.md): a stream id starting with ``#!::``
is a comma-separated list of ``key=value`` pairs; ``r`` resource, ``m`` mode (``request`` (default),
``publish``, ``bidirectional``), ``u`` user, ``h`` host, ``s`` session, ``t`` type. Any other stream id
is an opaque name and is used whole as the resource.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .errors import ParseError

STREAMID_PREFIX = "#!::"


class StreamMode(enum.StrEnum):
    REQUEST = "request"
    PUBLISH = "publish"
    BIDIRECTIONAL = "bidirectional"


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamId:
    raw: str
    resource: str
    mode: StreamMode = StreamMode.REQUEST
    user: str = ""
    host: str = ""
    session: str = ""
    type: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def encode(self) -> str:
        """The ``#!::`` form of this stream id."""
        parts = []
        for key, value in (("u", self.user), ("r", self.resource), ("h", self.host), ("s", self.session),
                           ("t", self.type)):  # fmt: skip
            if value:
                parts.append(f"{key}={value}")
        if self.mode is not StreamMode.REQUEST:
            parts.append(f"m={self.mode.value}")
        parts.extend(f"{k}={v}" for k, v in self.extra.items())
        return STREAMID_PREFIX + ",".join(parts)


_KEYS = {"r": "resource", "u": "user", "h": "host", "s": "session", "t": "type"}


def parse_stream_id(raw: str) -> StreamId:
    """Parse a stream id. Raises ParseError for a ``#!::`` form with a malformed pair or mode."""
    if not raw.startswith(STREAMID_PREFIX):
        return StreamId(raw=raw, resource=raw)
    # ``r`` may be absent (``#!::u=admin``): the resource is then empty, never a missing argument.
    values: dict[str, str] = {"resource": ""}
    extra: dict[str, str] = {}
    mode = StreamMode.REQUEST
    body = raw[len(STREAMID_PREFIX) :]
    for item in body.split(","):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise ParseError("stream id item without '='")
        if key == "m":
            try:
                mode = StreamMode(value)
            except ValueError as exc:
                raise ParseError("unknown stream id mode") from exc
        elif key in _KEYS:
            values[_KEYS[key]] = value
        else:
            extra[key] = value
    return StreamId(raw=raw, mode=mode, extra=extra, **values)
