"""A plain HTTP client for the admin API (urllib, as curl or a script would call it), signing with V3
(:func:`emulator.api.signature.sign_v3`, what the ``mcemu`` CLI sends) or V1 (query parameters), or not
at all."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from emulator.api.signature import encoded_query, sign_v3, v1_signature


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any
    raw: bytes


def admin_call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    key: tuple[str, str] | None = None,
    v1: bool = False,
    raw_body: bytes | None = None,
    sent_body: bytes | None = None,
    sent_path: str | None = None,
    content_type: str = "application/json",
) -> Answer:
    """One call. ``key`` (id, secret) signs it (V3, or V1 with ``v1``); ``sent_body`` / ``sent_path``
    replace what was signed on the wire (a tampered request)."""
    query = dict(query or {})
    data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
    host = base.split("://", 1)[1].rstrip("/")
    headers = {"host": host, "content-type": content_type}
    if key is not None and v1:
        query.update(
            AccessKeyId=key[0],
            SignatureMethod="HMAC-SHA1",
            SignatureVersion="1.0",
            Timestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            SignatureNonce=uuid.uuid4().hex,
        )
        query["Signature"] = v1_signature(key[1], method, query)
    elif key is not None:
        headers = sign_v3(
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=data,
            access_key_id=key[0],
            secret=key[1],
        )
    wire = sent_body if sent_body is not None else data
    url = f"{base.rstrip('/')}{sent_path or path}{encoded_query(query)}"
    req = urllib.request.Request(url, data=wire if wire else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            raw = resp.read()
            return Answer(resp.status, _decode(raw), raw)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return Answer(exc.code, _decode(raw), raw)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")
