"""Coverage-guided fuzzing of one target with atheris (libFuzzer for Python)::

    pip install -e '.[fuzz]'
    python -m fuzz --list
    python -m fuzz rtmp_chunk -max_total_time=60          # any libFuzzer / atheris flag passes through
    python -m fuzz srt_established -atheris_runs=100000 --corpus my-corpus/

The target functions, allowed errors and budgets are the ones ``tests/fuzz`` runs under hypothesis
(:mod:`fuzz.targets`, :mod:`fuzz.harness`): an escaping foreign exception or an allocation over budget
is a crash, libFuzzer's ``-timeout`` (default here 20 s) is the hang guard. Seeds from ``fixtures/``
are copied into a fresh corpus directory (or into ``--corpus DIR``, which then keeps what libFuzzer
finds); crash inputs are written where ``-artifact_prefix`` says (default: the current directory).
"""

from __future__ import annotations

import argparse
import hashlib
import pathlib
import sys
import tempfile
import tracemalloc

DEFAULT_FLAGS = {"-max_len": "65536", "-timeout": "20", "-rss_limit_mb": "2048"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", nargs="?", help="target name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--corpus", type=pathlib.Path, help="corpus directory to use and grow")
    args, flags = parser.parse_known_args(argv)
    try:
        import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        print("atheris is not installed: pip install -e '.[fuzz]'", file=sys.stderr)
        return 2
    with atheris.instrument_imports(include=["mediaplane", "emulator"]):
        from .harness import run_one
        from .targets import TARGETS
    if args.list or not args.target:
        for name, target in TARGETS.items():
            doc = (target.run.__doc__ or "").strip().splitlines()[0]
            print(f"{name:38} {doc}")
        return 0 if args.list else 2
    if args.target not in TARGETS:
        print(f"unknown target {args.target!r}; python -m fuzz --list", file=sys.stderr)
        return 2
    target = TARGETS[args.target]
    corpus = args.corpus or pathlib.Path(tempfile.mkdtemp(prefix=f"fuzz-{target.name}-"))
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in target.seeds():
        (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    given = {flag.split("=", 1)[0] for flag in flags}
    flags += [f"{k}={v}" for k, v in DEFAULT_FLAGS.items() if k not in given]
    print(f"fuzzing {target.name} with corpus {corpus}", file=sys.stderr)

    def test_one_input(data: bytes) -> None:
        run_one(target, data, watchdog_s=0)

    tracemalloc.start()  # once: the harness measures each input's peak with reset_peak()
    atheris.Setup([sys.argv[0], *flags, str(corpus)], test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
