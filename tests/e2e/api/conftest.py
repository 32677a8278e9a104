"""Fixtures for the API end-to-end tests (see api_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alibabacloud_ice20201109.client import Client
from api_harness import ApiThread


@pytest.fixture
def api() -> Iterator[ApiThread]:
    with ApiThread() as server:
        yield server


@pytest.fixture
def sdk(api: ApiThread) -> Client:
    """The official SDK with its default V3 (ACS3-HMAC-SHA256) signature."""
    return api.client()
