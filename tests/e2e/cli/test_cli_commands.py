"""What a user types against a running emulator: URLs back from ``flows`` / ``urls`` / ``url`` (text and
JSON), ``region/name`` for a flow, ``--api`` as the banner prints it, ``--version``, a probe refusal in one
line, a port clash naming the way out, and status lines only on change. The real CLI in a subprocess
against a real emulator on ephemeral ports."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from alibabacloud_ice20201109 import models as M
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi.models import Config
from cli_kit import Up, run, topology_file

from emulator.testing import EmulatorThread
from emulator.topology import DEFAULT_TOPOLOGY, EPHEMERAL_PORTS, stream_key

SG = "ap-southeast-1"


@pytest.fixture(scope="module")
def demo() -> Iterator[EmulatorThread]:
    with EmulatorThread(DEFAULT_TOPOLOGY) as emu:
        yield emu


def test_flows_urls_and_url_give_every_url_back(demo: EmulatorThread) -> None:
    api = demo.endpoint  # host:port, no scheme: as the banner prints it
    push = demo.url(f"{SG}/DemoRtmpA", "DemoRtmpAInput")
    assert push.endswith("/live/" + stream_key(None, SG, "DemoRtmpA", "DemoRtmpAInput"))
    flows = run("flows", "--api", api, "--log-level", "WARNING")
    assert flows.returncode == 0, flows.stderr
    assert push in flows.stdout and "<- flow ap-southeast-1/DemoRtmpA" in flows.stdout
    doc = json.loads(run("flows", "--json", "--api", api).stdout)
    assert {f"{f['region']}/{f['name']}" for f in doc} >= {f"{SG}/DemoRtmpA", "eu-central-1/DemoSrtB"}
    urls = run("urls", "--api", api)
    assert urls.returncode == 0 and len(urls.stdout.splitlines()) == len(demo.urls()) == 6
    assert sorted(line.split()[-1] for line in urls.stdout.splitlines()) == sorted(u for *_, u in demo.urls())
    rows = json.loads(run("urls", "--json", "--api", api).stdout)
    assert {"flow": f"{SG}/DemoRtmpA", "endpoint": "DemoRtmpAInput", "url": push}.items() <= rows[0].items()
    for ref in ("DemoRtmpA", f"{SG}/DemoRtmpA", demo.run(lambda: demo.em.manager.flows[0].id)):
        one = run("url", ref, "DemoRtmpAInput", "--api", api)
        assert one.returncode == 0 and one.stdout == push + "\n", one.stderr
    missing = run("url", "DemoRtmpA", "Nope", "--api", api)
    assert missing.returncode == 1 and "it has: DemoRtmpAInput, DemoRtmpAOutput" in missing.stderr


def test_lastmile_takes_region_slash_name(demo: EmulatorThread) -> None:
    api = ["--api", demo.endpoint]
    lm = run("lastmile", "set", f"{SG}/DemoRtmpA", "input", "DemoRtmpAInput", "--delay-ms", "30", *api)
    assert lm.returncode == 0 and "impaired URL: rtmp://" in lm.stdout, lm.stderr
    assert any("last mile" in row for _, row, _ in demo.urls())
    assert run("lastmile", "clear", "DemoRtmpA", "input", "DemoRtmpAInput", *api).returncode == 0


def test_version_and_log_level_after_the_subcommand() -> None:
    version = run("--version")
    assert version.returncode == 0 and re.fullmatch(r"mcemu \d+\.\d+\.\d+\S*\n", version.stdout), version
    bad = run("flows", "--log-level", "LOUD")
    assert bad.returncode == 2 and "--log-level 'LOUD'" in bad.stderr


def test_a_refused_probe_is_one_line_with_the_servers_reason(demo: EmulatorThread) -> None:
    push = demo.url("DemoRtmpA", "DemoRtmpAInput")
    bogus = push.rsplit("/", 1)[0] + "/bogus"
    result = run("probe", bogus, "--duration", "2", "--log-level", "WARNING")
    assert result.returncode == 1 and result.stdout == "", result
    assert result.stderr.strip() == (
        f"mcemu: probe {bogus}: the server refused: no input or output has stream key 'bogus'"
    )


def test_a_busy_port_names_the_way_out(demo: EmulatorThread, tmp_path: Path) -> None:
    topo = tmp_path / "busy.yaml"
    topo.write_text(yaml.safe_dump({**EPHEMERAL_PORTS, "api": {"port": demo.em.api_port}}))
    result = run("up", "--topology", str(topo), "--log-level", "WARNING")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result
    assert "address already in use; another mcemu may be running" in result.stderr
    assert "--api-port" in result.stderr
    region = demo.em.regions.get(SG)
    host, port = demo.run(lambda: demo.em.runtime.rtmp_address(region))
    topo.write_text(yaml.safe_dump({**EPHEMERAL_PORTS, "rtmp_port": port}))
    result = run("up", "--topology", str(topo), "--log-level", "WARNING")
    assert result.returncode == 1 and f"cannot listen on {host}:{port}" in result.stderr, result
    assert "rtmp_port" in result.stderr


def test_status_lines_only_on_change(tmp_path: Path) -> None:
    up = Up(["--topology", str(topology_file(tmp_path, {"flows": []})), "--status-every", "0.1"])
    try:
        api = up.banner()
        seen = len(up.lines)
        deadline = time.monotonic() + 2.0  # twenty looks with nothing to report
        while time.monotonic() < deadline:
            time.sleep(0.1)
        assert up.lines[seen:] == [], up.lines[seen:]
        sdk = Client(
            Config(access_key_id="k", access_key_secret="s", region_id=SG, endpoint=api, protocol="http")
        )
        sdk.create_media_connect_flow(M.CreateMediaConnectFlowRequest(flow_name="Watched", flow_region=SG))
        line = up.wait_line(r"\[ap-southeast-1/Watched\] offline", start=seen)
        assert line.endswith("0 players"), line
        after = len(up.lines)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            time.sleep(0.1)
        assert up.lines[after:] == [], up.lines[after:]
        assert up.interrupt() == 0, up.err
    finally:
        up.kill()
