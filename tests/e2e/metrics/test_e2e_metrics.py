"""``GET /metrics``: Prometheus text with figures read from real traffic (a real ffmpeg publishing over
SRT into Flow A, relayed across the backbone to Flow B)."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request

from emulator.testing import EmulatorThread

LINE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>[-0-9.e+]+)$")


def scrape(emu: EmulatorThread) -> list[tuple[str, dict[str, str], float]]:
    with urllib.request.urlopen(f"{emu.api_url}/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    rows = []
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = LINE.match(line)
        assert m, f"not Prometheus text: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m["labels"]))
        rows.append((m["name"], labels, float(m["value"])))
    return rows


def value(rows: list[tuple[str, dict[str, str], float]], name: str, **want: str) -> list[float]:
    return [v for n, labels, v in rows if n == name and all(labels.get(k) == x for k, x in want.items())]


def test_metrics_follow_real_traffic(ffmpeg_exe: str) -> None:
    topology = {
        "flows": [
            {"name": "MA", "region": "ap-southeast-1", "status": "online",
             "input": {"name": "In", "protocol": "SRT-Listener"},
             "outputs": [{"name": "ToB", "protocol": "SRT-Listener"}]},
            {"name": "MB", "region": "eu-central-1", "status": "online",
             "input": {"name": "FromA", "protocol": "Flow", "pair_flow": "MA", "pair_output": "ToB"},
             "outputs": [{"name": "Out", "protocol": "SRT-Listener"}]},
        ]
    }  # fmt: skip
    with EmulatorThread(topology) as emu:
        idle = scrape(emu)
        assert value(idle, "mcemu_flow_online", flow="MA") == [1.0]
        assert value(idle, "mcemu_input_connected", flow="MA", input="In") == [0.0]
        push_url = emu.run(lambda: emu.em.manager.flows[0].inputs[0].url)
        pub = subprocess.Popen(
            [ffmpeg_exe, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
             "-i", "testsrc2=size=320x240:rate=25", "-t", "4", "-c:v", "libx264", "-preset", "ultrafast",
             "-g", "25", "-b:v", "500k", "-f", "mpegts", push_url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            time.sleep(2.5)
            busy = scrape(emu)
            time.sleep(1.1)
            later = scrape(emu)
        finally:
            pub.kill()
            pub.communicate()

    assert value(busy, "mcemu_input_connected", flow="MA", input="In") == [1.0]
    a_bytes = value(busy, "mcemu_input_bytes_total", flow="MA", input="In")[0]
    b_bytes = value(busy, "mcemu_input_bytes_total", flow="MB", input="FromA")[0]
    assert a_bytes > 50_000 and b_bytes > 0, (a_bytes, b_bytes)
    # The bitrate over the second between the last two scrapes is the encoder's, roughly (500 kbit/s video).
    rate = value(later, "mcemu_input_bitrate_bps", flow="MA", input="In")[0]
    assert 100_000 < rate < 5_000_000, rate
    # SRT figures of the publisher's connection into Flow A and of the backbone caller of Flow B.
    assert value(busy, "mcemu_srt_packets_received_total", flow="MA", endpoint="In")[0] > 0
    rtts = value(busy, "mcemu_srt_rtt_ms", flow="MB", endpoint="FromA")
    assert rtts and all(0 < r < 1000 for r in rtts), rtts
    # The backbone link carried the stream Singapore -> Frankfurt (reverse: target -> client).
    delivered = [v for n, labels, v in busy if n == "mcemu_link_bytes_delivered_total"]
    assert delivered and max(delivered) > 50_000, delivered
