"""Named impairment profiles for common cases, with where their figures come from.

Figures are one-way and per direction (a link applies the profile to each direction, so the round trip
is twice the delay). They are rounded, typical values, not worst cases; a test that needs an exact
figure should build its own :class:`Impairment`.

Sources:

* [AZ] Microsoft, "Azure network round-trip latency statistics" (learn.microsoft.com/azure/networking/
  azure-network-latency): monthly median RTTs between cloud regions over a provider backbone.
* [WN] WonderNetwork global ping statistics (wondernetwork.com/pings): public city-to-city RTTs.
* [G114] ITU-T G.114 (05/2003), one-way transmission time: below 150 ms most applications are unaffected.
* [TS23203] 3GPP TS 23.203, table 6.1.7 (standardized QCI characteristics): conversational live video
  (QCI 2) has a 150 ms packet delay budget and a 1e-3 packet error loss rate; non-conversational
  video (QCI 4) 300 ms and 1e-6, which radio retransmissions reach at the cost of delay and jitter.
* [GE] G. Hasslinger, O. Hohlfeld, "The Gilbert-Elliott Model for Packet Loss in Real Time Services on
  the Internet", MMB 2008: measured Internet and wireless loss is bursty; a two-state model fits it.
* [GEO] Geostationary orbit at 35,786 km: 2 x 35,786 km / c = 239 ms ground-to-ground at the
  sub-satellite point, about 280 ms at low elevation angles; RFC 2488 section 2 (TCP over satellite).
* [LEO] Starlink measurement studies (e.g. Mohan et al., "A Multifaceted Look at Starlink Performance",
  WWW 2024): median RTT 40-60 ms, with latency spikes and short losses at the satellite reallocations
  every 15 s.
"""

from __future__ import annotations

from .models import Impairment, ImpairmentError

_PROFILES: dict[str, tuple[Impairment, str]] = {
    "perfect": (Impairment(), "no impairment at all"),
    "same-region": (
        Impairment(delay_ms=1.0, jitter_ms=0.2, jitter_distribution="normal"),
        "two zones of one cloud region: ~2 ms RTT [AZ]",
    ),
    "backbone-good": (
        Impairment(
            delay_ms=30.0,
            jitter_ms=1.0,
            jitter_distribution="normal",
            jitter_correlation_pct=50.0,
            loss_pct=0.01,
        ),
        "cloud backbone within a continent: 20-70 ms RTT, rare loss [AZ]",
    ),
    "backbone-congested": (
        Impairment(
            delay_ms=40.0,
            jitter_ms=8.0,
            jitter_distribution="pareto",
            loss_pct=0.5,
            loss_model="gilbert-elliott",
            loss_burst_packets=3.0,
        ),
        "a congested transit path: heavy-tailed queueing delay, bursty loss [GE]",
    ),
    "asia-europe": (
        Impairment(
            delay_ms=80.0,
            jitter_ms=2.0,
            jitter_distribution="normal",
            jitter_correlation_pct=50.0,
            loss_pct=0.05,
        ),
        "Singapore to Frankfurt over a backbone: ~160 ms RTT [AZ][WN]",
    ),
    "transpacific": (
        Impairment(
            delay_ms=85.0,
            jitter_ms=3.0,
            jitter_distribution="normal",
            jitter_correlation_pct=25.0,
            loss_pct=0.1,
        ),
        "Singapore or Hong Kong to US West: 150-175 ms RTT [AZ][WN]",
    ),
    "lossy-4g": (
        Impairment(
            delay_ms=35.0,
            jitter_ms=12.0,
            jitter_distribution="normal",
            jitter_correlation_pct=50.0,
            loss_pct=1.5,
            loss_model="gilbert-elliott",
            loss_burst_packets=3.0,
            rate_kbps=8000.0,
            queue_limit_packets=300,
        ),
        "a 4G uplink at the cell edge: 50-90 ms RTT, jittery, 1-2 % bursty loss, ~8 Mbps [TS23203][GE]",
    ),
    "congested-wifi": (
        Impairment(
            delay_ms=4.0,
            jitter_ms=8.0,
            jitter_distribution="pareto",
            loss_pct=1.0,
            loss_model="gilbert-elliott",
            loss_burst_packets=2.0,
            rate_kbps=20000.0,
            queue_limit_packets=300,
        ),
        "a busy home Wi-Fi hop: small base delay, heavy-tailed contention delay, bursty loss [GE]",
    ),
    "satellite": (
        Impairment(
            delay_ms=280.0,
            jitter_ms=10.0,
            jitter_distribution="normal",
            jitter_correlation_pct=50.0,
            loss_pct=0.5,
            rate_kbps=5000.0,
            queue_limit_packets=500,
        ),
        "geostationary satellite uplink: ~560 ms RTT, 5 Mbps uplink [GEO][G114]",
    ),
    "satellite-leo": (
        Impairment(
            delay_ms=25.0,
            jitter_ms=8.0,
            jitter_distribution="normal",
            jitter_correlation_pct=50.0,
            loss_pct=0.5,
            loss_model="gilbert-elliott",
            loss_burst_packets=4.0,
            rate_kbps=10000.0,
            queue_limit_packets=300,
            outage_period_s=15.0,
            outage_duration_s=0.05,
        ),
        "low-earth-orbit satellite (Starlink-like): ~50 ms RTT, 50 ms drop every 15 s [LEO]",
    ),
    "flapping": (
        Impairment(
            delay_ms=30.0,
            jitter_ms=1.0,
            jitter_distribution="normal",
            outage_period_s=30.0,
            outage_duration_s=2.0,
        ),
        "backbone-good that goes down for 2 s every 30 s (a flapping route)",
    ),
}


def profile(name: str) -> Impairment:
    """The named profile. Raises :class:`ImpairmentError` (a ``ValueError``) for an unknown name."""
    try:
        return _PROFILES[name][0]
    except KeyError:
        raise ImpairmentError(
            f"unknown impairment profile {name!r}; known: {', '.join(sorted(_PROFILES))}"
        ) from None


def profile_names() -> list[str]:
    """Every profile name, sorted."""
    return sorted(_PROFILES)


def profile_description(name: str) -> str:
    """One line on what the profile stands for and its sources."""
    profile(name)
    return _PROFILES[name][1]
