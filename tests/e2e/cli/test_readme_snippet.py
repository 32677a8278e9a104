"""The README's SDK snippet, exactly as written (its endpoint pointed at this run's API), runs twice
against ``mcemu up`` and prints working URLs: the quickstart's ``mcemu signal`` pushed to the first and
``mcemu probe`` at the second sees numbered frames cross the backbone. Real CLI, SDK and media."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from cli_kit import WAIT_S, Up, env, run, topology_file
from readme_blocks import python_block


def test_the_sdk_snippet_runs_twice_and_its_urls_carry_media(tmp_path: Path) -> None:
    code = python_block("## The seed walkthrough with the official SDK")
    assert 'endpoint="127.0.0.1:8080"' in code
    up = Up(["--topology", str(topology_file(tmp_path)), "--status-every", "0"])
    try:
        api = up.banner()
        outputs = []
        for _ in range(2):
            done = subprocess.run(
                [sys.executable, "-c", code.replace("127.0.0.1:8080", api)],
                env=env(),
                capture_output=True,
                text=True,
                timeout=WAIT_S,
            )
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout)
        push = re.search(r"^push: mcemu signal (\S+) --duration 10$", outputs[1], re.M)
        play = re.search(r"^play: mcemu probe (\S+)$", outputs[1], re.M)
        assert push and play, outputs
        assert push.group(1) not in outputs[0]  # a second, independent pair of flows
        signal = subprocess.Popen(
            [sys.executable, "-m", "emulator.cli", "signal", push.group(1), "--duration", "12"],
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            probe = run("probe", play.group(1), "--duration", "3", "--json", "--log-level", "WARNING")
        finally:
            _, err = signal.communicate(timeout=WAIT_S)
        assert signal.returncode == 0, err
        assert probe.returncode == 0, probe.stderr
        assert json.loads(probe.stdout)["frames_numbered"] > 0, probe.stdout
        assert up.interrupt() == 0, up.err
    finally:
        up.kill()
