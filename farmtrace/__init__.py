"""farmtrace: checkable farm data.

Subpackages:
- ``farmtrace.tlog``: plain-Python RFC 9162 Merkle trees and C2SP signed notes and checkpoints;
  the oracle the Rust core is tested against, and the code offline verification runs on.
- ``farmtrace.bench``: benchmark commands.
- ``farmtrace.cli``: the ``farmtrace`` command.
"""

__version__ = "0.1.0"
