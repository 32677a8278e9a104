"""Hiding secrets (stream keys, SRT passphrases, the backbone's token) from unsigned readers.

``GET /_emulator/state`` answers an unsigned caller with :func:`redact` applied: every field named in
:data:`SECRET_FIELDS` becomes :data:`REDACTED`, every known secret inside any string is replaced by it,
and every URL loses what could hold a foreign secret: its user info, its stream name (the path after
the application) and its query values (``srt://h:p?passphrase=***&streamid=***``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from typing import Any

from ..model.manager import FlowManager

__all__ = ["REDACTED", "SECRET_FIELDS", "flow_secrets", "redact", "redact_url"]

REDACTED = "***"
SECRET_FIELDS = frozenset({"stream_key", "srt_passphrase", "passphrase", "secret"})


def flow_secrets(manager: FlowManager) -> set[str]:
    """Every stream key and passphrase of the manager's flows."""
    found: set[str] = set()
    for flow in manager.flows:
        values = [v for i in flow.inputs for v in (i.stream_key, i.srt_passphrase)]
        values += [v for o in flow.outputs.values() for v in (o.stream_key, o.srt_passphrase)]
        found.update(v for v in values if v)
    return found


def redact_url(url: str) -> str:
    """``url`` without user info, stream name (path segments after the first) or query values."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    segments = parts.path.split("/")
    # "/live/Key" -> ["", "live", "Key"]: keep the application, hide the rest.
    path = "/".join(segments[:2] + ([REDACTED] if len(segments) > 2 else []))
    query = "&".join(
        f"{name}={REDACTED}" if sep else REDACTED
        for name, sep, _ in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, query, ""))


def redact(doc: Any, secrets: Iterable[str]) -> Any:
    """A copy of the JSON-ready ``doc`` with secrets hidden (see the module docstring)."""
    known = sorted({s for s in secrets if s}, key=len, reverse=True)

    def text(value: str) -> str:
        for secret in known:
            value = value.replace(secret, REDACTED)
        return redact_url(value) if "://" in value else value

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (REDACTED if k in SECRET_FIELDS and value[k] else walk(value[k])) for k in value}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        if isinstance(value, str):
            return text(value)
        return value

    return walk(doc)
