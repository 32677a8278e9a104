"""The admin API's pure parts: JSON bodies (depth, NaN, encoding), secret redaction (golden table), and
:func:`sign_v3` against the verifier (what is signed: method, path as sent, query, headers, body)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.api.admin import MAX_JSON_DEPTH, parse_json
from emulator.api.redact import REDACTED, redact, redact_url
from emulator.api.signature import ReceivedRequest, SignatureVerifier, sign_v3
from emulator.errors import IncompleteSignature, SignatureMismatch

NOW = 1767323045.0


def test_json_depth_limit_is_exact() -> None:
    ok = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert parse_json(ok) == parse_json(ok)  # loads
    too_deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        parse_json(too_deep)
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        parse_json(b"[" * 200_000)  # Python's json would raise RecursionError


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"{", "not valid JSON"),
        (b"[NaN]", "NaN is not a number"),
        (b"[-Infinity]", "-Infinity is not a number"),
        (b"\xc3\x28", "not UTF-8"),
        (b"1" * 6000, "not valid JSON"),
    ],
)
def test_bad_json_is_a_value_error(raw: bytes, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_json(raw)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.binary(max_size=64)
    | st.text(alphabet='[]{}":,0123456789.eE-truefalsn ', max_size=64).map(str.encode)
)
def test_parse_json_raises_only_value_error(raw: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_json(raw)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtmp://127.0.1.1:1935/live/In_abc", "rtmp://127.0.1.1:1935/live/***"),
        ("rtmp://user:pw@host/app/key?token=1", "rtmp://***@host/app/***?token=***"),
        (
            "srt://127.0.0.1:9000?passphrase=secret&streamid=x",
            "srt://127.0.0.1:9000?passphrase=***&streamid=***",
        ),
        ("srt://127.0.1.1:10000", "srt://127.0.1.1:10000"),
        ("rtmp://127.0.1.1:1935", "rtmp://127.0.1.1:1935"),
        ("srt://[::1", REDACTED),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_hides_fields_known_secrets_and_url_parts() -> None:
    doc = {
        "flows": [{"stream_key": "In_k1", "url": "rtmp://h:1/live/In_k1", "srt_passphrase": "", "n": 3}],
        "regions": {"sg": {"rtmp_sessions": [{"path": "_backbone-tok/Out_k2"}]}},
        "links": [{"name": "A/Out", "note": ("In_k1",)}],
    }
    shown = redact(doc, ["In_k1", "Out_k2", "_backbone-tok", ""])
    assert shown == {
        "flows": [{"stream_key": REDACTED, "url": "rtmp://h:1/live/***", "srt_passphrase": "", "n": 3}],
        "regions": {"sg": {"rtmp_sessions": [{"path": "***/***"}]}},
        "links": [{"name": "A/Out", "note": [REDACTED]}],
    }
    assert doc["flows"][0]["stream_key"] == "In_k1"  # a copy


def _received(
    headers: dict[str, str], *, method: str, path: str, query: dict[str, str], body: bytes
) -> ReceivedRequest:
    return ReceivedRequest(method=method, path=path, query=query, headers=tuple(headers.items()), body=body)


def test_sign_v3_is_what_the_verifier_checks() -> None:
    verifier = SignatureVerifier({"ak": "sk"}, clock=lambda: NOW)
    body = b'{"delay_ms": 80}'
    query = {"both_ways": "true", "a b": "c*d"}
    path = "/_emulator/links/ap-southeast-1/eu-central-1"

    def signed(nonce: str) -> dict[str, str]:
        return sign_v3(
            method="PUT",
            path=path,
            query=query,
            headers={"host": "127.0.0.1:8080", "content-type": "application/json"},
            body=body,
            access_key_id="ak",
            secret="sk",
            now=NOW,
            nonce=nonce,
        )

    headers = signed("n1")
    assert headers["x-acs-date"] == "2026-01-02T03:04:05Z"
    assert (
        "SignedHeaders=content-type;host;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce,"
        in (headers["Authorization"])
    )
    assert verifier.verify(_received(headers, method="PUT", path=path, query=query, body=body)) == "ak"
    changes: list[dict[str, Any]] = [
        {"method": "POST", "path": path, "query": query, "body": body},
        {"method": "PUT", "path": path + "x", "query": query, "body": body},
        {"method": "PUT", "path": path, "query": {**query, "both_ways": "false"}, "body": body},
        {"method": "PUT", "path": path, "query": query, "body": b'{"delay_ms": 81}'},
    ]
    for i, change in enumerate(changes):
        with pytest.raises(SignatureMismatch):
            verifier.verify(_received(signed(f"changed-{i}"), **change))
    moved = {**signed("n9"), "host": "evil:1"}
    with pytest.raises(SignatureMismatch):
        verifier.verify(_received(moved, method="PUT", path=path, query=query, body=body))
    stripped = signed("n10")
    stripped["Authorization"] = stripped["Authorization"].replace(";x-acs-signature-nonce", "")
    with pytest.raises(IncompleteSignature, match="x-acs-signature-nonce"):
        verifier.verify(_received(stripped, method="PUT", path=path, query=query, body=body))
