"""The pytest plugin, loaded by a plain ``pytest`` run from its entry point: a session that uses none
of its fixtures imports nothing of the emulator but the plugin module, and one that uses ``mcemu_sdk``
has the emulator and the SDK imported when collection ends, before the first fixture of the first
test runs; without the SDK, only the tests that use ``mcemu_sdk`` fail."""

from __future__ import annotations

import os
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


WITHOUT_SDK = """
def test_the_emulator_runs(mcemu):
    assert mcemu.endpoint

def test_the_sdk_client(mcemu_sdk):
    pass
"""


def _pytest(
    tmp_path: Path, source: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_example.py").write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        cwd=tmp_path,
        env=env,
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


def test_without_the_sdk_only_the_tests_using_mcemu_sdk_fail(tmp_path: Path) -> None:
    # The SDK is the [sdk] extra: a package of its name that cannot be imported stands for its absence.
    shadow = tmp_path / "shadow" / "alibabacloud_ice20201109"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("no SDK here")\n')
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")]),
    }
    run = _pytest(tmp_path, WITHOUT_SDK, env)
    assert "INTERNALERROR" not in run.stdout + run.stderr
    assert "1 passed, 1 error" in run.stdout, run.stdout + run.stderr
    assert "no SDK here" in run.stdout
