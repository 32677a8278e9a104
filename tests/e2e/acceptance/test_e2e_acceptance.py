"""The acceptance checks shipped beside the project (``../shared/acceptance/``), run as a user runs them:
``python ../shared/acceptance/seed_walkthrough.py`` from the project root, with this environment's
``mcemu`` (the harness starts ``mcemu up --api-port P`` itself, with the default topology)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
ACCEPTANCE = ROOT.parent / "shared" / "acceptance"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.mark.parametrize("script", ["seed_walkthrough.py"])
def test_acceptance_script_passes(script: str) -> None:
    path = ACCEPTANCE / script
    if not path.exists():
        if IN_CI:
            pytest.fail(f"acceptance check missing: {path}")
        pytest.skip(f"no {path} beside this checkout (local only; CI has it)")
    proc = subprocess.run([sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr[-2000:]}"
    print(proc.stdout)
