"""The console's V3 signing, run in the browser, against the Python signer the API verifies with: the
same request (method, path, query with characters RFC 3986 encodes, headers, body, date, nonce) gets the
same headers and Authorization; and the small SHA-256 / HMAC the console falls back on without WebCrypto
equals hashlib's for lengths around every padding boundary and for non-ASCII text."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from emulator.api.signature import sign_v3
from emulator.testing import EmulatorThread

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
QUERY = {"Action": "AddMediaConnectFlowInput", "InputName": "a b/c*d'(e)!~", "Cidrs": "10.0.0.0/8,ü"}


def test_browser_signature_equals_the_python_one(console_factory: Any) -> None:
    with EmulatorThread() as emu:
        con = console_factory(f"http://{emu.endpoint}/console/")
        con.open("#/events")
        got = con.page.evaluate(
            """async ([query, now]) => {
                const { signV3 } = await import("./js/sign.js");
                return signV3({
                    method: "POST", path: "/_emulator/links/a/b", query,
                    headers: { "x-acs-action": "Test", "Content-Type": "application/json" },
                    body: '{"delay_ms": 80}', accessKeyId: "AK", secret: "s3cr\\u00e9t",
                    now: new Date(now * 1000), nonce: "n0nce",
                });
            }""",
            [QUERY, NOW],
        )
        want = sign_v3(
            method="POST",
            path="/_emulator/links/a/b",
            query=QUERY,
            headers={"x-acs-action": "Test", "Content-Type": "application/json"},
            body=b'{"delay_ms": 80}',
            access_key_id="AK",
            secret="s3cr\u00e9t",
            now=NOW,
            nonce="n0nce",
        )
        assert {k.lower(): v for k, v in got.items()} == {k.lower(): v for k, v in want.items()}
        assert con.errors() == [], con.errors()


def test_fallback_sha256_and_hmac_equal_hashlib(console_factory: Any) -> None:
    texts = ["", "abc", "ü€", *("x" * n for n in (55, 56, 63, 64, 65, 119, 120, 1000))]
    key = "k" * 70  # longer than a block: hashed first
    with EmulatorThread() as emu:
        con = console_factory(f"http://{emu.endpoint}/console/")
        con.open("#/events")
        got = con.page.evaluate(
            """async ([texts, key]) => {
                const { sha256, hmac } = await import("./js/sign.js");
                const enc = new TextEncoder();
                const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
                const mac = (t) => hex(hmac(enc.encode(key), enc.encode(t)));
                return texts.map((t) => [hex(sha256(enc.encode(t))), mac(t)]);
            }""",
            [texts, key],
        )
        want = [
            [
                hashlib.sha256(t.encode()).hexdigest(),
                hmac.new(key.encode(), t.encode(), hashlib.sha256).hexdigest(),
            ]
            for t in texts
        ]
        assert got == want
