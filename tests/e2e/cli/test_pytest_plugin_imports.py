"""The pytest plugin, loaded by a plain ``pytest`` run from its entry point: a session that uses none
of its fixtures imports nothing of the emulator but the plugin module, and one that uses ``mcemu_sdk``
has the emulator and the SDK imported when collection ends, before the first fixture of the first
test runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

UNUSED = """
import sys

def test_nothing_of_the_emulator_imported():
    loaded = [m for m in sys.modules if m.startswith(("emulator.", "mediaplane", "alibabacloud", "aiohttp"))]
    assert loaded == ["emulator.pytest_plugin"]
"""

USED = """
import sys
import pytest

@pytest.fixture
def imported_before_any_fixture():
    return {m for m in ("emulator.testing", "alibabacloud_ice20201109.client") if m in sys.modules}

def test_sdk(imported_before_any_fixture, mcemu_sdk):
    assert imported_before_any_fixture == {"emulator.testing", "alibabacloud_ice20201109.client"}
    assert type(mcemu_sdk).__module__ == "alibabacloud_ice20201109.client"
"""


def _pytest(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_example.py").write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_session_without_the_fixtures_imports_nothing_of_the_emulator(tmp_path: Path) -> None:
    run = _pytest(tmp_path, UNUSED)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_a_session_using_mcemu_sdk_imports_it_before_the_first_test(tmp_path: Path) -> None:
    run = _pytest(tmp_path, USED)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
