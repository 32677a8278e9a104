"""Fixtures for the control-plane unit tests (the runtime is tests/kit/fake_runtime.py)."""

from __future__ import annotations

import itertools

import pytest

from emulator.model.manager import FlowManager
from emulator.regions import RegionCatalogue
from tests.kit.fake_runtime import FakeRuntime


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def catalogue() -> RegionCatalogue:
    return RegionCatalogue.default(srt_port_min=10000, srt_port_max=10009)


@pytest.fixture
def manager(catalogue: RegionCatalogue, runtime: FakeRuntime) -> FlowManager:
    ids = (f"flow-{n}" for n in itertools.count(1))
    tokens = (f"{n:032x}" for n in itertools.count(1))
    return FlowManager(
        catalogue,
        runtime,
        clock=lambda: 1_700_000_000.0,
        new_id=lambda: next(ids),
        new_token=lambda: next(tokens),
    )
