import sys

from farmtrace.cli import main

sys.exit(main())
