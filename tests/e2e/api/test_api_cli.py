"""The ``mcemu`` CLI keeps the control plane's promises: commands that call the API sign with the keys of
``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``..._SECRET`` or ``--access-key-id`` / ``--access-key-secret`` (and fail
with one clear line without them), ``mcemu up`` warns on a non-loopback API address without keys, and a
topology with a wrong-typed value is one line and a non-zero exit, no traceback. The real CLI in a
subprocess against a real emulator (every port 0)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from alibabacloud_ice20201109 import models as M

from emulator.testing import TEST_PORTS, EmulatorThread

AK = ("cli-ak", "cli-secret")
SG, FRA = "ap-southeast-1", "eu-central-1"


def env(key: tuple[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    if key is not None:
        clean.update(ALIBABA_CLOUD_ACCESS_KEY_ID=key[0], ALIBABA_CLOUD_ACCESS_KEY_SECRET=key[1])
    return clean


def mcemu(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator.cli", "--log-level", "WARNING", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def keyed() -> Iterator[EmulatorThread]:
    with EmulatorThread({"access_keys": {AK[0]: AK[1]}}) as emu:
        yield emu


def test_commands_sign_with_the_environment_keys(keyed: EmulatorThread) -> None:
    api = ["--api", keyed.api_url]
    client = keyed.sdk_client(access_key_id=AK[0], secret=AK[1])
    fid = client.create_media_connect_flow(
        M.CreateMediaConnectFlowRequest(flow_name="CliFlow", flow_region=SG)
    ).body.content.flow_id
    client.add_media_connect_flow_input(
        M.AddMediaConnectFlowInputRequest(flow_id=fid, input_name="In", input_protocol="RTMP-PUSH")
    )
    good = env(AK)
    flows = mcemu("flows", *api, environ=good)
    assert flows.returncode == 0 and "CliFlow" in flows.stdout, flows.stderr
    state = mcemu("state", *api, environ=good)
    assert state.returncode == 0 and '"stream_key": "In_' in state.stdout, (
        state.stderr
    )  # signed: not redacted
    link = mcemu("link", "set", SG, FRA, "--delay-ms", "90", "--loss-pct", "1", *api, environ=good)
    assert link.returncode == 0 and f"{SG} -> {FRA}" in link.stdout, link.stderr
    assert keyed.run(lambda: keyed.em.backbone.impairment(SG, FRA)).delay_ms == 90
    assert mcemu("link", "show", *api, environ=good).returncode == 0
    assert mcemu("link", "clear", SG, FRA, "--both-ways", *api, environ=good).returncode == 0
    assert keyed.run(lambda: keyed.em.backbone.overrides()) == {}
    lm = mcemu("lastmile", "set", fid, "input", "In", "--delay-ms", "50", *api, environ=good)
    assert lm.returncode == 0 and "CliFlow input In" in lm.stdout, lm.stderr
    assert mcemu("lastmile", "clear", fid, "input", "In", *api, environ=good).returncode == 0
    # Flags win over the environment.
    flagged = mcemu("lastmile", "show", *api, "--access-key-id", AK[0], "--access-key-secret", AK[1],
                    environ=env(("cli-ak", "wrong")))  # fmt: skip
    assert flagged.returncode == 0, flagged.stderr
    assert mcemu("reset", *api, environ=good).returncode == 0
    assert keyed.run(lambda: keyed.em.manager.flows) == []


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_without_keys_or_with_a_wrong_secret_one_clear_line(keyed: EmulatorThread) -> None:
    api = ["--api", keyed.api_url]
    keyed.call(lambda: keyed.em.manager.reset())
    line = one_line(mcemu("reset", *api, environ=env()))
    assert line.startswith("mcemu: POST /_emulator/reset: HTTP 404 InvalidAccessKeyId.NotFound"), line
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in line and "--access-key-id" in line
    line = one_line(mcemu("link", "set", SG, FRA, "--outage", *api, environ=env((AK[0], "wrong"))))
    assert line.startswith(f"mcemu: PUT /_emulator/links/{SG}/{FRA}: HTTP 400 SignatureDoesNotMatch"), line
    assert keyed.run(lambda: keyed.em.backbone.overrides()) == {}
    line = one_line(mcemu("flows", *api, "--access-key-id", AK[0], environ=env()))
    assert "needs both its id and its secret" in line
    line = one_line(mcemu("flows", "--api", "http://127.0.0.1:1", environ=env(AK)))
    assert line.startswith("mcemu: cannot reach the emulator at http://127.0.0.1:1"), line


def test_an_open_emulator_accepts_the_placeholder_key() -> None:
    with EmulatorThread() as emu:
        result = mcemu("state", "--api", emu.api_url, environ=env())
    assert result.returncode == 0 and '"redacted"' not in result.stdout, result.stderr


def test_up_with_a_wrong_typed_topology_value_prints_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("api: {port: abc}\n")
    result = mcemu("up", "--topology", str(bad), environ=env())
    assert result.returncode == 2, result
    assert result.stderr.strip().splitlines() == [
        "mcemu: topology: api.port: expected a port number (0-65535), got 'abc'"
    ], result.stderr
    bad.write_text(
        yaml.safe_dump({"flows": [{"name": "A", "region": "ap-southeast-1", "input": {"name": 5}}]})
    )
    result = mcemu("up", "--topology", str(bad), environ=env())
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == "mcemu: topology: flows[0].input.name: expected a string, got 5"


class Up:
    """``mcemu up`` in a subprocess; stdout read by a thread so that a test can wait for a line."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator.cli", "--log-level", "WARNING", "up", *args],
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        # Both pipes are read by threads only (communicate() would read stdout beside the thread, close
        # it under it and fail it with "I/O operation on closed file").
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def stop(self) -> str:
        """Wait for "Ctrl-C to stop.", send SIGINT, return stderr."""
        deadline = time.monotonic() + 60
        while not any("Ctrl-C to stop" in line for line in self.lines):
            assert self.proc.poll() is None, "".join(self.errors)
            assert time.monotonic() < deadline, self.lines
            time.sleep(0.05)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        for reader in self._readers:
            reader.join(timeout=10)
        err = "".join(self.errors)
        assert self.proc.returncode == 0, err
        return err


@pytest.mark.parametrize("keys", [False, True], ids=["open", "keyed"])
def test_up_on_a_non_loopback_address_without_keys_warns(tmp_path: Path, keys: bool) -> None:
    topo = tmp_path / "topology.yaml"
    doc: dict[str, Any] = {**TEST_PORTS, "api": {"port": 0}}
    if keys:
        doc["access_keys"] = {AK[0]: AK[1]}
    topo.write_text(yaml.safe_dump(doc))
    up = Up(["--topology", str(topo), "--api-host", "0.0.0.0", "--status-every", "0"])
    try:
        err = up.stop()
    finally:
        if up.proc.poll() is None:
            up.proc.kill()
            up.proc.wait()
    warnings = [line for line in err.splitlines() if "warning" in line]
    if keys:
        assert warnings == [], err
    else:
        assert warnings == [
            "mcemu: warning: the API listens on 0.0.0.0 without access_keys: anyone who can reach it can "
            "change or delete every flow and read every stream key (set access_keys in the topology)"
        ], err
