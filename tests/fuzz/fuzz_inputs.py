"""Hypothesis strategies for the fuzz tests: mutations of a target's seed corpus (bit flips,
truncations, splices, inserted and deleted ranges, boundary integers written over length and count
fields) and pure random bytes; plus the settings every fuzz test shares (bounded, derandomized, no
example database, so CI runs are steady and repeatable)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from fuzz.harness import FuzzTarget

BOUNDARY_INTS = (
    0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFF, 0xFFFFFF,
    0x1000000, 0x3FFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF,
)  # fmt: skip
"""Values a length, count or sequence field is most likely to mishandle."""


def fuzz_settings(max_examples: int) -> settings:
    """Bounded, repeatable settings (no deadline: the budgets of fuzz.harness do that job)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


@st.composite
def _mutation(draw: st.DrawFn, seed: bytes, corpus: tuple[bytes, ...]) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "truncate", "splice", "insert", "delete", "int", "dup")))
        n = len(data)
        if op == "flip" and n:
            i = draw(st.integers(0, n - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[draw(st.integers(0, n)) :]
        elif op == "splice":
            other = draw(st.sampled_from(corpus))
            cut = draw(st.integers(0, n))
            data[cut:] = other[draw(st.integers(0, len(other))) :]
        elif op == "insert":
            at = draw(st.integers(0, n))
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif op == "delete" and n:
            at = draw(st.integers(0, n - 1))
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "int" and n:
            width = draw(st.sampled_from((1, 2, 3, 4)))
            value = draw(st.sampled_from(BOUNDARY_INTS) | st.integers(0, 0xFFFFFFFF)) % (1 << (8 * width))
            at = draw(st.integers(0, max(0, n - width)))
            order = draw(st.sampled_from(("big", "little")))
            data[at : at + width] = value.to_bytes(width, order)  # type: ignore[arg-type]
        elif op == "dup" and n:
            at = draw(st.integers(0, n - 1))
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


def inputs_for(target: FuzzTarget, *, random_max_size: int = 2048) -> st.SearchStrategy[bytes]:
    """Seed mutations (mostly) and pure random bytes for ``target``."""
    corpus = tuple(target.seeds())
    assert corpus, f"{target.name} has no seeds"
    mutated = st.sampled_from(corpus).flatmap(lambda seed: _mutation(seed, corpus))
    return st.one_of(mutated, st.sampled_from(corpus), st.binary(max_size=random_max_size))
