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


@pytest.fixture(params=["v3", "v1"])
def sdk(api: ApiThread, request: pytest.FixtureRequest) -> Client:
    """The official SDK, with its default V3 signature (ACS3-HMAC-SHA256) and with V1 (HMAC-SHA1 in the
    query, ``signature_algorithm='v2'``): every test using it runs once per scheme."""
    return api.client(v1=request.param == "v1")
