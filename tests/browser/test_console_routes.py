"""The console's files over real HTTP (no browser needed): where they are, their types and headers, and
that with access keys only the files are open: every API route the page calls still needs a signature."""

from __future__ import annotations

import http.client
import json

from emulator.console import CSP
from emulator.testing import EmulatorThread


def get(endpoint: str, path: str) -> tuple[int, dict[str, str], bytes]:
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_console_files_are_served_with_their_types() -> None:
    with EmulatorThread() as emu:
        status, headers, _ = get(emu.endpoint, "/console")
        assert (status, headers["location"]) == (302, "/console/")
        status, headers, body = get(emu.endpoint, "/console/")
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert headers["content-security-policy"] == CSP
        assert b'<script type="module" src="js/main.js">' in body
        status, headers, body = get(emu.endpoint, "/console/js/main.js")
        assert status == 200 and "javascript" in headers["content-type"], headers
        status, headers, _ = get(emu.endpoint, "/console/console.css")
        assert status == 200 and headers["content-type"].startswith("text/css")
        assert get(emu.endpoint, "/console/js/nothing.js")[0] == 404
        assert get(emu.endpoint, "/console/../emulator/app.py")[0] in (403, 404)
        assert get(emu.endpoint, "/console/%2e%2e/__init__.py")[0] in (403, 404)


def test_with_access_keys_only_the_files_are_open() -> None:
    with EmulatorThread({"access_keys": {"AK": "secret-0123456789"}}) as emu:
        assert get(emu.endpoint, "/console/")[0] == 200
        assert get(emu.endpoint, "/console/js/api.js")[0] == 200
        for path in (
            "/_emulator/state",
            "/_emulator/events",
            "/_emulator/links",
            "/_emulator/stats",
            "/?Action=x",
        ):
            status, _, body = get(emu.endpoint, path)
            assert status == 400 and json.loads(body)["Code"] == "IncompleteSignature", (path, status, body)
