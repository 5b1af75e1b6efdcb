"""``python3 -m crashlab``."""
import sys

from crashlab.cli import main

sys.exit(main())
