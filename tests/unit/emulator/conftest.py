"""Fixtures for the control-plane unit tests (see flow_doubles.py for the recording runtime)."""

from __future__ import annotations

import itertools

import pytest
from flow_doubles import RecordingRuntime

from emulator.flows import FlowManager
from emulator.regions import RegionCatalogue


@pytest.fixture
def runtime() -> RecordingRuntime:
    return RecordingRuntime()


@pytest.fixture
def catalogue() -> RegionCatalogue:
    return RegionCatalogue.default(srt_port_min=10000, srt_port_max=10009)


@pytest.fixture
def manager(catalogue: RegionCatalogue, runtime: RecordingRuntime) -> FlowManager:
    ids = (f"flow-{n}" for n in itertools.count(1))
    tokens = (f"{n:032x}" for n in itertools.count(1))
    return FlowManager(
        catalogue,
        runtime,
        clock=lambda: 1_700_000_000.0,
        new_id=lambda: next(ids),
        new_token=lambda: next(tokens),
    )
