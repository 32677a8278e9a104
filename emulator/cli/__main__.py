"""``python -m emulator.cli``."""

import sys

from . import main

sys.exit(main())
