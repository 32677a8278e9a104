"""``python -m mediaplane.media signal URL ...`` / ``python -m mediaplane.media probe URL ...``."""

from __future__ import annotations

import sys


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("signal", "probe"):
        print("usage: python -m mediaplane.media {signal|probe} URL [options]  (--help for options)")
        return 2
    if sys.argv[1] == "signal":
        from .signal import main as run
    else:
        from .probe import main as run
    return run(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
