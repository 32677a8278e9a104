"""How :func:`mediaplane.udp.gso_runs` cuts a list of datagrams into GSO sends (no sockets)."""

from __future__ import annotations

from mediaplane.udp import GSO_MAX_BYTES, GSO_MAX_SEGMENTS, gso_runs, split_gro


def runs(sizes: list[int]) -> list[tuple[int, int, int]]:
    return list(gso_runs([b"x" * n for n in sizes]))


def test_equal_sizes_go_in_one_run() -> None:
    assert runs([1332] * 5) == [(0, 5, 1332)]


def test_a_single_datagram_is_sent_plainly() -> None:
    assert runs([1332]) == [(0, 1, 0)]
    assert runs([]) == []


def test_a_shorter_datagram_closes_its_run() -> None:
    # The kernel lets only the last segment be shorter than the segment size.
    assert runs([1332, 1332, 500, 1332, 1332]) == [(0, 3, 1332), (3, 5, 1332)]


def test_a_longer_datagram_starts_a_new_run() -> None:
    assert runs([44, 44, 1332, 1332]) == [(0, 2, 44), (2, 4, 1332)]


def test_control_packets_between_data_are_sent_alone() -> None:
    assert runs([1332, 44, 1332]) == [(0, 2, 1332), (2, 3, 0)]


def test_a_run_holds_at_most_the_kernels_segment_count() -> None:
    got = runs([100] * (GSO_MAX_SEGMENTS + 3))
    assert got == [(0, GSO_MAX_SEGMENTS, 100), (GSO_MAX_SEGMENTS, GSO_MAX_SEGMENTS + 3, 100)]


def test_a_run_holds_at_most_one_udp_payload_of_bytes() -> None:
    per_run = GSO_MAX_BYTES // 1400
    got = runs([1400] * (per_run + 2))
    assert got[0] == (0, per_run, 1400)
    assert sum(len(range(a, b)) for a, b, _ in got) == per_run + 2
    assert all((b - a) * 1400 <= GSO_MAX_BYTES for a, b, _ in got)


def test_split_gro_cuts_at_the_segment_size() -> None:
    data = b"a" * 10 + b"b" * 10 + b"c" * 4
    assert split_gro(data, 10) == [b"a" * 10, b"b" * 10, b"c" * 4]
    assert split_gro(data, 0) == [data]
    assert split_gro(b"abc", 10) == [b"abc"]
