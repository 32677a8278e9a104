"""The MaxBitrate shaper (a token bucket with an explicit clock)."""

from __future__ import annotations

from emulator.runtime import MaxBitrateShaper


def test_under_the_cap_passes_unchanged_with_bursts() -> None:
    shaper = MaxBitrateShaper(1_000_000, burst_s=2.0)  # 125,000 bytes/s, 250,000 bytes of burst
    assert shaper.delay(200_000, 0.0) == 0.0  # a big keyframe fits the burst
    t = 0.0
    for _ in range(100):  # then 100 kB/s (800 kbit/s) for 10 s
        t += 0.1
        assert shaper.delay(10_000, t) == 0.0
    assert shaper.delayed_s == 0.0


def test_over_the_cap_waits_for_the_rate() -> None:
    shaper = MaxBitrateShaper(800_000, burst_s=1.0)  # 100,000 bytes/s, 100,000 bytes of burst
    assert shaper.delay(100_000, 0.0) == 0.0  # the burst
    assert shaper.delay(50_000, 0.0) == 0.5  # half a second of tokens owed
    # Forwarded at t=0.5: over the next second 200 kB arrive but only 100 kB of tokens accrue.
    waits = [shaper.delay(20_000, 0.5 + i * 0.1) for i in range(10)]
    assert waits[0] == 0.2 and waits[-1] > 0.9
    assert abs(shaper.delayed_s - (0.5 + sum(waits))) < 1e-9
