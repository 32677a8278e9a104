"""Helpers of the state tests: the admin client of tests/e2e/api and the peers of tests/e2e/flows."""

from __future__ import annotations

from typing import Any

from tests.e2e.api.admin_client import admin_call
from tests.e2e.backbone.backbone_kit import Lines
from tests.e2e.flows.e2e_peers import free_port, publisher
from tests.e2e.flows.e2e_runtime_kit import Sdk, kill, wait_until

__all__ = ["KEY", "Lines", "Sdk", "admin_call", "free_port", "identity", "kill", "publisher", "wait_until"]

KEY = ("mcemu", "mcemu")
"""Any key signs when the emulator has no access keys (what the CLI sends)."""


def identity(state: dict[str, Any]) -> list[Any]:
    """What must survive an export/import or a restart, per flow: id, name, region, status, and every
    input's and output's name, protocol, URL, stream key, SRT port, passphrase and Forbid."""
    keys = ("name", "protocol", "url", "stream_key", "srt_port", "srt_passphrase", "forbid", "create_time")
    return [
        (
            f["id"], f["name"], f["region"], f["status"], f["failover_open"], f["create_time"],
            [tuple(i.get(k) for k in keys) for i in f["inputs"]],
            [tuple(o.get(k) for k in keys) for o in f["outputs"]],
        )
        for f in state["flows"]
    ]  # fmt: skip
