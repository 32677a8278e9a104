"""The sans-IO impairment models, driven with an explicit clock and seeded generators."""

from __future__ import annotations

import random
import statistics

import pytest

from mediaplane.netem import Impairment, ImpairmentError, TcpModel, UdpModel
from mediaplane.netem.tcp_model import TCP_MIN_RTO_S, TCP_SEGMENT_BYTES


def run_udp(model: UdpModel, count: int, *, size: int = 1000, pps: float = 1000.0) -> list[tuple[float, ...]]:
    return [model.decide(size, i / pps) for i in range(count)]


def test_identity_delivers_at_once() -> None:
    model = UdpModel(Impairment(), rng=random.Random(1))
    assert model.decide(100, 5.0) == (5.0,)
    assert model.counters.packets_in == 1 and model.counters.dropped == 0


def test_constant_delay() -> None:
    model = UdpModel(Impairment(delay_ms=80.0), rng=random.Random(1))
    assert model.decide(100, 1.0) == pytest.approx((1.08,))


def test_bernoulli_loss_two_percent_over_100k() -> None:
    model = UdpModel(Impairment(loss_pct=2.0, seed=7))
    results = run_udp(model, 100_000)
    lost = sum(1 for r in results if not r) / len(results)
    assert abs(lost - 0.02) <= 0.003
    assert model.counters.dropped_loss == sum(1 for r in results if not r)


def test_same_seed_drops_the_same_packets() -> None:
    imp = Impairment(loss_pct=5.0, jitter_ms=5.0, delay_ms=10.0, duplicate_pct=1.0, seed=42)
    a = [bool(r) for r in run_udp(UdpModel(imp), 20_000)]
    b = [bool(r) for r in run_udp(UdpModel(imp), 20_000)]
    assert a == b
    c = [bool(r) for r in run_udp(UdpModel(Impairment(loss_pct=5.0, seed=43)), 20_000)]
    assert a != c


def test_loss_pattern_does_not_depend_on_timing() -> None:
    # Which packets the loss process drops depends on their order only, not on when they arrive.
    imp = Impairment(loss_pct=3.0, jitter_ms=10.0, seed=5)
    fast = UdpModel(imp)
    slow = UdpModel(imp)
    a = [bool(fast.decide(200, i * 0.0001)) for i in range(10_000)]
    b = [bool(slow.decide(200, i * 0.01)) for i in range(10_000)]
    assert a == b


def test_gilbert_elliott_mean_loss_and_burst_length() -> None:
    model = UdpModel(Impairment(loss_pct=5.0, loss_model="gilbert-elliott", loss_burst_packets=4.0, seed=3))
    lost = [not r for r in run_udp(model, 200_000)]
    assert abs(sum(lost) / len(lost) - 0.05) < 0.006
    bursts, run = [], 0
    for x in lost:
        if x:
            run += 1
        elif run:
            bursts.append(run)
            run = 0
    assert 3.5 < statistics.mean(bursts) < 4.5
    # Bernoulli at 5 % has mean bursts of 1/(1-0.05) ~ 1.05 packets
    bern = [not r for r in run_udp(UdpModel(Impairment(loss_pct=5.0, seed=3)), 200_000)]
    b_bursts, run = [], 0
    for x in bern:
        if x:
            run += 1
        elif run:
            b_bursts.append(run)
            run = 0
    assert statistics.mean(b_bursts) < 1.2


def test_gilbert_elliott_explicit_parameters() -> None:
    imp = Impairment(loss_model="gilbert-elliott", ge_p_pct=1.0, ge_r_pct=20.0, ge_loss_bad_pct=50.0)
    assert imp.loss_rate == pytest.approx(0.01 / 0.21 * 0.5)
    model = UdpModel(imp, rng=random.Random(9))
    lost = sum(1 for r in run_udp(model, 200_000) if not r) / 200_000
    assert abs(lost - imp.loss_rate) < 0.004


@pytest.mark.parametrize("dist", ["uniform", "normal", "pareto"])
@pytest.mark.parametrize("corr", [0.0, 80.0])
def test_jitter_distributions_keep_their_shape(dist: str, corr: float) -> None:
    imp = Impairment(delay_ms=50.0, jitter_ms=10.0, jitter_distribution=dist, jitter_correlation_pct=corr)
    model = UdpModel(imp, rng=random.Random(11))
    delays = [model.decide(100, 0.0)[0] * 1000.0 for _ in range(40_000)]
    if dist == "uniform":
        assert min(delays) >= 40.0 and max(delays) <= 60.0
        assert statistics.mean(delays) == pytest.approx(50.0, abs=0.5)
        assert statistics.pstdev(delays) == pytest.approx(10.0 / 3**0.5, rel=0.05)
    elif dist == "normal":
        assert statistics.mean(delays) == pytest.approx(50.0, abs=0.5)
        assert statistics.pstdev(delays) == pytest.approx(10.0, rel=0.05)
    else:
        assert min(delays) >= 50.0  # one-sided tail
        assert statistics.mean(delays) == pytest.approx(60.0, abs=1.0)
        assert max(delays) > 100.0


def test_jitter_correlation_correlates_successive_draws() -> None:
    def lag1(corr: float) -> float:
        model = UdpModel(
            Impairment(delay_ms=50.0, jitter_ms=10.0, jitter_correlation_pct=corr), rng=random.Random(2)
        )
        xs = [model.decide(100, 0.0)[0] for _ in range(20_000)]
        return statistics.correlation(xs[:-1], xs[1:])

    assert abs(lag1(0.0)) < 0.05
    assert lag1(80.0) > 0.7


def test_jitter_reorders_datagrams() -> None:
    model = UdpModel(Impairment(delay_ms=50.0, jitter_ms=20.0), rng=random.Random(1))
    times = [model.decide(100, i * 0.001)[0] for i in range(1000)]
    assert times != sorted(times)
    no_jitter = UdpModel(Impairment(delay_ms=50.0), rng=random.Random(1))
    times = [no_jitter.decide(100, i * 0.001)[0] for i in range(1000)]
    assert times == sorted(times)


def test_explicit_reorder_skips_the_delay() -> None:
    model = UdpModel(Impairment(delay_ms=100.0, reorder_pct=25.0), rng=random.Random(4))
    times = [model.decide(100, i * 0.001) for i in range(10_000)]
    immediate = sum(1 for i, t in enumerate(times) if t[0] == pytest.approx(i * 0.001))
    assert abs(immediate / 10_000 - 0.25) < 0.02
    assert model.counters.reordered == immediate


def test_duplication() -> None:
    model = UdpModel(Impairment(duplicate_pct=10.0, delay_ms=5.0), rng=random.Random(6))
    results = run_udp(model, 50_000)
    dups = sum(1 for r in results if len(r) == 2)
    assert abs(dups / 50_000 - 0.10) < 0.01
    assert model.counters.duplicated == dups


def test_bandwidth_cap_five_mbps_within_three_percent() -> None:
    # Offer 8 Mbps of 1316-byte datagrams for 10 s to a 5 Mbps link; measure what comes out per second.
    model = UdpModel(Impairment(rate_kbps=5000.0, queue_limit_packets=50), rng=random.Random(1))
    size, pps = 1316, 760
    out: list[float] = []
    for i in range(pps * 10):
        out.extend(model.decide(size, i / pps))
    window = [t for t in out if 1.0 <= t < 9.0]
    rate_bps = len(window) * size * 8 / 8.0
    assert abs(rate_bps / 5_000_000 - 1.0) < 0.03
    assert model.counters.dropped_queue > 0  # tail drop past the queue bound
    assert model.queue_packets(10.0) <= 50


def test_queue_bound_limits_added_delay() -> None:
    model = UdpModel(Impairment(rate_kbps=1000.0, queue_limit_packets=10), rng=random.Random(1))
    times = [model.decide(1250, 0.0) for _ in range(100)]  # 10 ms each at 1 Mbps
    kept = [t[0] for t in times if t]
    assert len(kept) == 10
    assert max(kept) == pytest.approx(0.1)


def test_outage_flag_drops_everything_until_changed() -> None:
    model = UdpModel(Impairment(delay_ms=10.0), rng=random.Random(1))
    assert model.decide(100, 0.0)
    model.set_impairment(Impairment(delay_ms=10.0, outage=True), 1.0)
    assert all(not model.decide(100, 1.0 + i * 0.01) for i in range(100))
    assert model.counters.dropped_outage == 100
    model.set_impairment(Impairment(delay_ms=10.0), 3.0)
    assert model.decide(100, 3.0) == pytest.approx((3.01,))


def test_recurring_outage() -> None:
    imp = Impairment(outage_period_s=10.0, outage_duration_s=2.0)
    model = UdpModel(imp, rng=random.Random(1), now=100.0)
    fates = {t: bool(model.decide(100, 100.0 + t)) for t in (0.0, 7.9, 8.0, 9.9, 10.0, 17.99, 18.5, 20.1)}
    assert fates == {
        0.0: True,
        7.9: True,
        8.0: False,
        9.9: False,
        10.0: True,
        17.99: True,
        18.5: False,
        20.1: True,
    }
    assert imp.outage_end(8.5) == 10.0
    assert imp.next_outage_start(8.5) == 18.0
    assert imp.next_outage_start(3.0) == 8.0


def test_gilbert_elliott_state_survives_impairment_change() -> None:
    imp = Impairment(loss_model="gilbert-elliott", ge_p_pct=100.0, ge_r_pct=1.0)
    model = UdpModel(imp, rng=random.Random(1))
    model.decide(100, 0.0)
    assert model._loss is not None and model._loss.in_bad_state
    model.set_impairment(imp, 1.0)
    assert model._loss is not None and model._loss.in_bad_state


# -- TCP -------------------------------------------------------------------------------------------


def test_tcp_delay_and_no_reordering_under_jitter() -> None:
    model = TcpModel(
        Impairment(delay_ms=40.0, jitter_ms=15.0, jitter_distribution="normal"), rng=random.Random(3)
    )
    pieces = []
    for i in range(2000):
        pieces.extend(model.submit(500, i * 0.001))
    times = [t for t, _ in pieces]
    assert times == sorted(times)
    assert sum(n for _, n in pieces) == 2000 * 500
    assert min(t - i * 0.001 for i, t in enumerate(times)) >= 0.0


def test_tcp_bandwidth_cap() -> None:
    model = TcpModel(Impairment(rate_kbps=5000.0), rng=random.Random(1))
    pieces = model.submit(5_000_000 // 8 * 4, 0.0)  # four seconds' worth at 5 Mbps
    assert pieces[-1][0] == pytest.approx(4.0, rel=0.001)
    assert all(n <= TCP_SEGMENT_BYTES for _, n in pieces)


def test_tcp_loss_shows_as_retransmission_stalls() -> None:
    imp = Impairment(delay_ms=50.0, loss_pct=2.0, seed=1)
    model = TcpModel(imp)
    pieces = model.submit(TCP_SEGMENT_BYTES * 1000, 0.0)
    assert sum(n for _, n in pieces) == TCP_SEGMENT_BYTES * 1000  # nothing is dropped
    assert 5 <= model.counters.retransmissions <= 40
    # one fast retransmit costs a round trip (2 x 50 ms); a tail loss the minimum RTO
    assert model.retransmit_stall_s(tail=False) == pytest.approx(0.1)
    assert model.retransmit_stall_s(tail=True) == pytest.approx(max(TCP_MIN_RTO_S, 0.1))
    assert pieces[-1][0] >= 0.05 + 0.1


def test_tcp_outage_modes() -> None:
    model = TcpModel(Impairment(), rng=random.Random(1), now=0.0)
    assert model.outage(0.0) is None
    model.set_impairment(Impairment(outage=True, outage_mode="stall"), 1.0)
    out = model.outage(1.5)
    assert out is not None and not out.reset and out.until is None
    model.set_impairment(Impairment(outage=True, outage_mode="reset"), 2.0)
    out = model.outage(2.0)
    assert out is not None and out.reset
    model.set_impairment(Impairment(outage_period_s=10.0, outage_duration_s=1.0, outage_mode="stall"), 10.0)
    out = model.outage(19.5)
    assert out is not None and out.until == pytest.approx(20.0)
    assert model.next_outage_at(12.0) == pytest.approx(19.0)


def test_tcp_same_seed_same_stalls() -> None:
    imp = Impairment(delay_ms=20.0, jitter_ms=5.0, loss_pct=3.0, seed=77)
    a, b = TcpModel(imp), TcpModel(imp)
    assert [a.submit(10_000, i * 0.01) for i in range(200)] == [
        b.submit(10_000, i * 0.01) for i in range(200)
    ]


def test_models_validate() -> None:
    with pytest.raises(ImpairmentError):
        UdpModel(Impairment(loss_pct=101.0))
    with pytest.raises(ValueError, match="jitter_distribution"):
        TcpModel(Impairment(jitter_distribution="cauchy"))
