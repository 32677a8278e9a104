"""Talking to a running emulator: its URL, the access key, signed requests and refusals."""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .common import (
    ENV_ACCESS_KEY_ID,
    ENV_ACCESS_KEY_SECRET,
    KEY_HINT,
    PLACEHOLDER_KEY,
)


def api_url(api: str) -> str:
    """``--api`` as a URL: ``127.0.0.1:8080`` (as the banner prints it) means ``http://127.0.0.1:8080``."""
    text = api.strip().rstrip("/")
    if "://" not in text:
        text = "http://" + text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SystemExit(f"mcemu: --api {api!r} is not host:port or an http:// URL")
    return text


def credentials(args: argparse.Namespace) -> tuple[str, str, bool]:
    """(access key id, secret, given): flags, else the environment, else :data:`PLACEHOLDER_KEY`."""
    key_id = args.access_key_id or os.environ.get(ENV_ACCESS_KEY_ID) or ""
    secret = args.access_key_secret or os.environ.get(ENV_ACCESS_KEY_SECRET) or ""
    if bool(key_id) != bool(secret):
        raise SystemExit(f"mcemu: an access key needs both its id and its secret: {KEY_HINT}")
    if not key_id:
        return *PLACEHOLDER_KEY, False
    return key_id, secret, True


def request(
    args: argparse.Namespace, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
) -> Any:
    """One signed admin API call; the decoded JSON answer. Exits with one line on any failure."""
    from ..api.signature import encoded_query, sign_v3

    api = api_url(str(args.api))
    parts = urllib.parse.urlsplit(api)
    key_id, secret, given = credentials(args)
    path = parts.path.rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"host": parts.netloc, "accept": "application/json"}
    if body is not None:
        headers["content-type"] = "application/json"
    headers = sign_v3(
        method=method,
        path=path,
        query=query or {},
        headers=headers,
        body=data,
        access_key_id=key_id,
        secret=secret,
    )
    url = f"{parts.scheme}://{parts.netloc}{path}{encoded_query(query or {})}"
    req = urllib.request.Request(url, data=data if body is not None else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"mcemu: {method} {path}: {_refusal(exc, given)}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"mcemu: cannot reach the emulator at {api}: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # a reset connection, a non-JSON answer
        raise SystemExit(f"mcemu: {method} {path}: {type(exc).__name__}: {exc}") from None


_AUTH_CODES = frozenset(
    {
        "IncompleteSignature",
        "InvalidAccessKeyId.NotFound",
        "SignatureDoesNotMatch",
        "InvalidTimeStamp.Format",
        "InvalidTimeStamp.Expired",
        "SignatureNonceUsed",
    }
)


def _refusal(exc: urllib.error.HTTPError, key_given: bool) -> str:
    """One line for an HTTP error answer: ``HTTP 404 InvalidAccessKeyId.NotFound: ...``."""
    raw = exc.read().decode(errors="replace")
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "Code" in doc:
        text = f"HTTP {exc.code} {doc['Code']}: {doc.get('Message', '')}"
        if doc["Code"] in _AUTH_CODES:
            text = text.split(" server string to sign")[0]  # the canonical request: not one line
            text += f" (no access key given: {KEY_HINT})" if not key_given else ""
    elif isinstance(doc, dict) and "error" in doc:
        text = f"HTTP {exc.code}: {doc['error']}"
    else:
        text = f"HTTP {exc.code}: {raw}"
    line = " ".join(text.split())
    return line if len(line) <= 400 else line[:397] + "..."


def api_path(*segments: str) -> str:
    """``/_emulator/<segments>``, each percent-encoded (a name may hold any character)."""
    from ..api.signature import percent_encode

    return "/_emulator/" + "/".join(percent_encode(s) for s in segments)
