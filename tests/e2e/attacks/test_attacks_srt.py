"""SRT attacks while a real ffmpeg RTMP relay and SRT relay cross Singapore -> Frankfurt (issue 8).

Each attack is judged by :func:`attack_kit.judge` (frame rate at both ffmpeg players, stalls,
``/_emulator/health`` latency, RSS, file descriptors) plus its own checks:

* the 160 ms-RTT SRT sender: the default Singapore -> Frankfurt backbone leg (80 ms one way, 120 ms
  latency, no loss) retransmits under 1 % of what it sends;
* one forged 24-byte NAK from a real SRT player of Flow B's SRT-Listener output, its loss range
  covering 2^23 and then 2^31 - 1 sequence numbers;
* one DROPREQ 2^22 ahead from a real SRT publisher, which then goes on publishing: what follows is
  accepted;
* ~1000 forged conclusions per second (each with a valid SYN cookie and a KMREQ to unwrap) at a
  passphrase listener, and 15,000 unproven handshakes per second (inductions and conclusions with a
  wrong cookie), for 5 s each: few log lines.
"""

from __future__ import annotations

import dataclasses
import random
import socket
import time
from urllib.parse import urlsplit

import pytest
from attack_kit import (
    EmulatorProcess,
    Judgement,
    RawSrtCaller,
    Stack,
    assert_judged,
    conclusion_templates,
    forged_conclusions,
    induction_packet,
    judge,
    ts_payload,
    udp_flood,
    wait_until,
)

from mediaplane.srt.circular import SEQ_MASK
from mediaplane.srt.packet import DropRequest, Nak

pytestmark = pytest.mark.ffmpeg

RETRANS_WINDOW_S = 10.0
MAX_RETRANS_RATIO = 0.01
FLOOD_S = 5.0
CONCLUSIONS_PPS = 1000
INDUCTIONS_PPS = 15_000
MAX_LOG_LINES = 50
"""Log lines (INFO and above) the emulator may write for a whole 5 s flood."""


def _addr(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port, url
    return parts.hostname, parts.port


def _sender_counters(relays: Stack) -> tuple[float, float]:
    """(packets sent, retransmitted) by Flow A's ToB listener: the backbone leg's SRT sender."""
    emu = relays.e
    labels = {"flow": "SrtA", "endpoint": "ToB"}
    return (
        emu.metric_sum("mcemu_srt_packets_sent_total", **labels),
        emu.metric_sum("mcemu_srt_packets_retransmitted_total", **labels),
    )


def test_srt_sender_over_160ms_rtt_barely_retransmits(relays: Stack) -> None:
    """Zero loss, 160 ms round trip, 120 ms latency: retransmissions < 1 % of the packets sent."""
    rtt = relays.e.metric_sum("mcemu_srt_rtt_ms", flow="SrtA", endpoint="ToB")
    sent0, re0 = _sender_counters(relays)
    time.sleep(RETRANS_WINDOW_S)
    sent1, re1 = _sender_counters(relays)
    sent, retrans = sent1 - sent0, re1 - re0
    ratio = retrans / sent if sent else float("nan")
    print(
        f"[160 ms RTT sender] RTT {rtt:.0f} ms; {sent:.0f} packets sent, "
        f"{retrans:.0f} retransmitted ({ratio:.2%})"
    )
    assert sent > 10 * RETRANS_WINDOW_S, f"the backbone leg hardly sent anything: {sent}"
    assert 140 <= rtt <= 260, f"not the default 80 ms one-way backbone: RTT {rtt} ms"
    assert ratio < MAX_RETRANS_RATIO, f"{retrans:.0f} of {sent:.0f} packets retransmitted ({ratio:.1%})"


@pytest.mark.parametrize("span", [1 << 23, (1 << 31) - 1], ids=["2^23", "2^31-1"])
def test_forged_nak_from_a_player(relays: Stack, span: int) -> None:
    """A real player of SrtB's SRT-Listener output sends one NAK whose single loss range ends at the
    newest packet it received and covers ``span`` sequence numbers."""
    host, port = _addr(relays.e.url("SrtB", "Out"))

    def attack(v: Judgement) -> None:
        caller = RawSrtCaller(host, port, seed=span & 0xFFFF).connect()
        try:
            wait_until(lambda: caller.payloads > 50, 15, "the attacker's player receiving")
            last = caller.highest_seq
            first = (last - span + 1) & SEQ_MASK
            nak = Nak(timestamp=0, dest_socket_id=caller.peer_socket_id, losses=((first, last),)).encode()
            assert len(nak) == 24 and ((last - first) & SEQ_MASK) + 1 == span
            caller.inject(nak)
            time.sleep(2.0)
            v.extra["attacker"] = caller.closed_reason or "still connected"
        finally:
            caller.close()

    verdict = judge(relays, f"NAK {span}", attack)
    assert_judged(verdict)


def test_dropreq_far_ahead_then_the_stream_goes_on(relays: Stack) -> None:
    """A raw SRT publisher into SrtDrop's listener sends 50 packets, one DROPREQ for a range 2^22 ahead,
    then 100 more packets: those are accepted (the input's byte counter grows by them)."""
    emu = relays.e
    host, port = _addr(emu.url("SrtDrop", "In"))
    drop_id = emu.flow_ids()["SrtDrop"]

    def bytes_in() -> int:
        return int(emu.state()["live_flows"][drop_id]["inputs"]["In"]["bytes_in"])

    def publish(caller: RawSrtCaller, start: int, count: int) -> None:
        for i in range(count):
            caller.send(ts_payload(start + i))
            time.sleep(0.005)

    def attack(v: Judgement) -> None:
        caller = RawSrtCaller(host, port, seed=22).connect()
        try:
            base = bytes_in()
            publish(caller, 0, 50)
            wait_until(lambda: bytes_in() >= base + 45 * 1316, 10, "the first 50 packets accepted")
            before = bytes_in()
            first = (caller.next_seq + (1 << 22)) & SEQ_MASK
            caller.inject(
                DropRequest(
                    timestamp=0,
                    dest_socket_id=caller.peer_socket_id,
                    msgno=0,
                    first_seq=first,
                    last_seq=(first + 16) & SEQ_MASK,
                ).encode()
            )
            publish(caller, 50, 100)
            got = 0
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and got < 100 * 1316:
                got = bytes_in() - before
                time.sleep(0.1)
            v.extra["accepted_after_dropreq"] = f"{got // 1316}/100 packets"
            v.extra["attacker"] = caller.closed_reason or "still connected"
        finally:
            caller.close()

    verdict = judge(relays, "DROPREQ 2^22 ahead", attack)
    accepted = int(str(verdict.extra.get("accepted_after_dropreq", "0/")).split("/")[0])
    assert_judged(
        verdict, f"only {accepted} of the 100 packets after the DROPREQ accepted" if accepted < 90 else ""
    )


def test_conclusion_flood_at_a_passphrase_listener(relays: Stack) -> None:
    """~1000 conclusions/s for 5 s at SrtSecure's listener from 4 sources, each conclusion with a valid
    SYN cookie, a fresh socket id and a KMREQ wrapped with the wrong passphrase (a PBKDF2 each)."""
    emu = relays.e
    target = _addr(emu.url("SrtSecure", "In"))
    rng = random.Random(8)

    def attack(v: Judgement) -> None:
        sources = conclusion_templates(*target, 4, "not-the-passphrase")
        per = int(CONCLUSIONS_PPS * FLOOD_S / len(sources)) + 1
        wires = [forged_conclusions(hs, per, rng) for _, hs in sources]
        socks = [s for s, _ in sources]
        t0 = time.monotonic()
        try:
            v.extra["sent"] = udp_flood(socks, target, wires, CONCLUSIONS_PPS, FLOOD_S)
            v.extra["answers"] = sum(_drain(s) for s in socks)
        finally:
            for s in socks:
                s.close()
        v.extra["log_lines"] = _loud_lines(emu, t0)

    verdict = judge(relays, "conclusion flood", attack)
    assert_judged(verdict, _too_loud(verdict))


def test_unproven_handshake_flood(relays: Stack) -> None:
    """15,000 unproven handshakes/s for 5 s at SrtSecure's listener from 4 sources: inductions, and
    conclusions whose SYN cookie is wrong, alternating."""
    emu = relays.e
    target = _addr(emu.url("SrtSecure", "In"))
    rng = random.Random(15)

    def attack(v: Judgement) -> None:
        sources = conclusion_templates(*target, 4, "not-the-passphrase")
        socks = [s for s, _ in sources]
        induction = induction_packet(*target)
        wires = []
        for _, hs in sources:
            bad = dataclasses.replace(hs, syn_cookie=hs.syn_cookie ^ 0x5A5A5A5A)
            wires.append([w for c in forged_conclusions(bad, 64, rng) for w in (induction, c)])
        t0 = time.monotonic()
        try:
            v.extra["sent"] = udp_flood(socks, target, wires, INDUCTIONS_PPS, FLOOD_S)
        finally:
            for s in socks:
                s.close()
        v.extra["log_lines"] = _loud_lines(emu, t0)

    verdict = judge(relays, "induction flood", attack)
    assert_judged(verdict, _too_loud(verdict))


def _drain(sock: socket.socket) -> int:
    sock.setblocking(False)
    n = 0
    while True:
        try:
            sock.recv(65536)
        except OSError:
            return n
        n += 1


def _loud_lines(emu: EmulatorProcess, since: float) -> int:
    """INFO-and-above lines the emulator logged from ``since`` until a second from now."""
    time.sleep(1.0)
    lines = emu.log_lines(since)
    return sum(1 for line in lines if emu.level_of(line) in ("INFO", "WARNING", "ERROR", "CRITICAL"))


def _too_loud(verdict: Judgement) -> str:
    n = int(verdict.extra.get("log_lines", 0))
    return f"{n} log lines for one flood (at most {MAX_LOG_LINES})" if n > MAX_LOG_LINES else ""
