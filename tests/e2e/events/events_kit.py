"""A real server-sent-events reader of ``GET /_emulator/events`` (http.client in a thread, as a script
or a browser's EventSource would read it), and the shared peers of tests/e2e/flows."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from typing import Any

from emulator.api.signature import sign_v3
from tests.e2e.api.admin_client import admin_call
from tests.e2e.flows.e2e_peers import Receiver, free_port, publisher
from tests.e2e.flows.e2e_runtime_kit import kill, wait_until

__all__ = ["EventStream", "Receiver", "admin_call", "free_port", "kill", "publisher", "wait_until"]


class EventStream:
    """One open ``GET /_emulator/events`` connection; ``events`` fills as they arrive.

    ``raw`` keeps every line as received, ``comments`` the ``:`` lines. Waits until the server's first
    comment (the subscription is in place) before returning from the constructor."""

    def __init__(self, endpoint: str, query: str = "", *, key: tuple[str, str] | None = None) -> None:
        host, port = endpoint.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.conn.connect()
        self._sock = self.conn.sock
        path = "/_emulator/events"
        headers = {"host": endpoint, "accept": "text/event-stream"}
        if key is not None:
            query_map = dict(p.split("=", 1) for p in query.split("&") if p)
            headers = sign_v3(
                method="GET", path=path, query=query_map, headers=headers, body=b"",
                access_key_id=key[0], secret=key[1],
            )  # fmt: skip
        self.conn.request("GET", path + (f"?{query}" if query else ""), headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.content_type = self.response.getheader("Content-Type", "")
        self.events: list[dict[str, Any]] = []
        self.ids: list[int] = []
        self.comments: list[str] = []
        self.raw: list[str] = []
        self.closed = False
        self._opened = threading.Event()
        if self.status != 200:
            self.body = self.response.read().decode(errors="replace")
            return
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._opened.wait(15):
            raise AssertionError("the event stream sent no opening comment within 15 s")

    def _read(self) -> None:
        pending_id: int | None = None
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                text = line.decode().rstrip("\n")
                self.raw.append(text)
                if text.startswith(":"):
                    self.comments.append(text)
                    self._opened.set()
                elif text.startswith("id: "):
                    pending_id = int(text[4:])
                elif text.startswith("data: "):
                    event = json.loads(text[6:])
                    if pending_id is not None:
                        assert event["id"] == pending_id, (event, pending_id)
                        self.ids.append(pending_id)
                    pending_id = None
                    self.events.append(event)
        except (OSError, ValueError, AttributeError):  # the socket was shut down under the read
            pass
        finally:
            self.closed = True
            self._opened.set()

    def wait(self, type: str, timeout: float = 30.0, **match: Any) -> dict[str, Any]:
        """The first received event of ``type`` with the ``match`` values (waiting for it)."""
        deadline = time.monotonic() + timeout
        while True:
            for e in list(self.events):
                if e["type"] == type and all(e.get(k) == v for k, v in match.items()):
                    return e
            if time.monotonic() > deadline:
                seen = [(e["type"], e.get("input_name") or e.get("output_name")) for e in self.events]
                raise AssertionError(f"no {type} {match} on the stream within {timeout:g} s; got {seen}")
            time.sleep(0.05)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def close(self) -> None:
        """Hang up (the reader thread ends)."""
        import socket

        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        if hasattr(self, "_thread"):
            self._thread.join(5)
        self.conn.close()
