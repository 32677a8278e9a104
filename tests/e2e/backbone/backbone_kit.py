"""Shared pieces of the backbone e2e tests (``test_e2e_backbone_*.py``): the official SDK as a terse
client, the admin API's ``/_emulator/links`` routes over plain HTTP, waits on live emulator state, and
the link counters of the runtime snapshot.

The real ffmpeg peers come from ``tests/e2e/flows/e2e_peers.py``, the SDK client, waits and the client
loop from ``tests/e2e/flows/e2e_runtime_kit.py`` (all re-exported here).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from emulator.testing import EmulatorThread
from mediaplane.relay import HubUnit
from mediaplane.rtmp import RtmpClientConfig
from tests.e2e.flows.e2e_peers import FPS, Receiver, free_port, publisher
from tests.e2e.flows.e2e_runtime_kit import ClientLoop, PlayerRecord, Sdk, wait_until
from tests.kit.lines import Lines

RTMP_VIDEO = 9
"""RTMP message type id of video messages."""

__all__ = [
    "A_REGION",
    "B_REGION",
    "FPS",
    "ClientLoop",
    "Lines",
    "Receiver",
    "RtmpPlayer",
    "Sdk",
    "admin",
    "free_port",
    "link_stats",
    "publisher",
    "snapshot",
    "wait_until",
]

A_REGION, B_REGION = "ap-southeast-1", "eu-central-1"


def admin(api_url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One admin API call (``/_emulator/...``): ``(HTTP status, decoded JSON body)``."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api_url.rstrip("/") + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def snapshot(emu: EmulatorThread) -> dict[str, Any]:
    """``Runtime.snapshot()`` read on the emulator's loop."""
    snap: dict[str, Any] = emu.run(emu.em.runtime.snapshot)
    return snap


def link_stats(emu: EmulatorThread) -> list[dict[str, Any]]:
    """The ``links`` rows of the runtime snapshot: from, to, name and per-direction counters."""
    links: list[dict[str, Any]] = snapshot(emu)["links"]
    return links


class RtmpPlayer(PlayerRecord):
    """Our RTMP client playing a URL (it stays connected through UnpublishNotify, as a patient player
    does; ffmpeg ends playback on it). Records every unit with its arrival time (monotonic), kind, RTMP
    timestamp and whether it is video (RTMP message type 9), and every hub signal (published /
    unpublished) with its time. Lives on a :class:`ClientLoop`."""

    def __init__(self, url: str, *, idle_timeout_s: float = 30.0) -> None:
        super().__init__(url, config=RtmpClientConfig(idle_timeout_s=idle_timeout_s))

    def _tag(self, unit: HubUnit) -> bool:
        return getattr(unit.payload, "type_id", None) == RTMP_VIDEO
