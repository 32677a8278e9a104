"""The fuzz targets live in the top-level ``fuzz`` package (shared with the atheris runner); make the
repository root importable however pytest was started."""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
