"""``python -m farmtrace.sim`` (see ``farmtrace.sim.cli``)."""

import sys

from farmtrace.sim.cli import main

sys.exit(main())
