"""``python -m firmware_sim`` (see ``firmware_sim.cli``)."""

import sys

from firmware_sim.cli import main

sys.exit(main())
