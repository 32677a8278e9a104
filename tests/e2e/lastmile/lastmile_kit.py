"""Shared pieces of the last-mile e2e tests (``test_e2e_lastmile_*.py``): the backbone kit's SDK client,
admin calls and waits, plus the ``/_emulator/lastmile`` rows.

The real ffmpeg peers come from ``tests/e2e/flows/e2e_peers.py``.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.backbone.backbone_kit import A_REGION, Sdk, admin, snapshot, wait_until
from tests.e2e.flows.e2e_peers import Receiver, decode, free_port, publisher, stop_all

__all__ = [
    "A_REGION",
    "Receiver",
    "Sdk",
    "admin",
    "decode",
    "free_port",
    "lastmile_row",
    "publisher",
    "snapshot",
    "stop_all",
    "wait_until",
]


def lastmile_row(api_url: str, flow_id: str, role: str, name: str) -> dict[str, Any] | None:
    """The ``GET /_emulator/lastmile`` row of one endpoint (None when it has no last-mile impairment)."""
    status, view = admin(api_url, "GET", "/_emulator/lastmile")
    assert status == 200, view
    for row in view["endpoints"]:
        if (row["flow_id"], row["role"], row["name"]) == (flow_id, role, name):
            return dict(row)
    return None
