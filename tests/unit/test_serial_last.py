"""The suite's xdist scheduler (tests/kit/serial_last.py), run for real: pytest -n 3 over a tiny tree
whose tests log when and where they ran. The timing-judged ones must start only after every other
test has ended, all on one worker, one after another."""

from __future__ import annotations

import itertools
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]

CONFTEST = """
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    from tests.kit.serial_last import SerialLastScheduling
    return SerialLastScheduling(config, log)
"""

BODY = """
import os, time, pytest

@pytest.mark.parametrize("i", range({n}))
def test_it(i):
    t0 = time.monotonic()
    time.sleep(0.2)
    line = f"{{'{kind}'}} {{os.environ.get('PYTEST_XDIST_WORKER')}} {{t0}} {{time.monotonic()}}\\n"
    with open({log!r}, "a") as f:
        f.write(line)
"""


def test_serial_tests_run_last_alone_on_one_worker(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "ran.log"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for folder, kind, n in (("tests/unit", "parallel", 9), ("tests/e2e/attacks", "serial", 3)):
        d = tmp_path / folder
        d.mkdir(parents=True)
        (d / f"test_{kind}.py").write_text(BODY.format(n=n, kind=kind, log=str(log)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "3", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in log.read_text().splitlines()]
    parallel = [(w, float(a), float(b)) for k, w, a, b in rows if k == "parallel"]
    serial = sorted((float(a), float(b), w) for k, w, a, b in rows if k == "serial")
    assert len(parallel) == 9 and len(serial) == 3, rows
    assert len({w for w, _, _ in parallel}) > 1, "the parallel tests did not spread over workers"
    last_parallel_end = max(b for _, _, b in parallel)
    assert serial[0][0] >= last_parallel_end, "a serial test started while others still ran"
    assert len({w for _, _, w in serial}) == 1, "the serial tests ran on more than one worker"
    for (_, end, _), (start, _, _) in itertools.pairwise(serial):
        assert start >= end, "two serial tests overlapped"
