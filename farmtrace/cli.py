"""The ``farmtrace`` command.

Each component contributes its subcommands through a ``register(subparsers)`` function in a
module listed in ``_COMMAND_MODULES``; each registered parser sets ``func`` to a callable taking
the parsed namespace and returning the process exit code. Modules are imported when the command
line is parsed, so a missing optional component fails loudly rather than vanishing from ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

_COMMAND_MODULES = (
    "farmtrace.bench.command",
    "farmtrace.audit.command",
    "farmtrace.audit.mirror_command",
    "farmtrace.gateway.ingest.command",
    "farmtrace.gateway.broker.command",
    "farmtrace.api.commands",
    "farmtrace.demo.command",
    "farmtrace.witness.command",
    "farmtrace.wallet.command",
    "farmtrace.wallet.community_command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="farmtrace",
        description="Checkable farm data: signed readings, Merkle batches, signed checkpoints; "
        "harvest campaigns and product coupons on the same chain (docs/commerce.md).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse and run a command; its exit code.

    A reader that closes stdout early (``farmtrace audit ... | head``) ends the command
    quietly with 0, as ``cat`` or ``grep`` stop without a message (see
    :func:`farmtrace.sim.cli.stdout_closed`); a broken pipe elsewhere (a socket) is raised.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # so a closed pipe shows here rather than at interpreter exit
    except BrokenPipeError:
        from farmtrace.sim.cli import stdout_closed  # the simulator's, so a Pi has it too

        if not stdout_closed():
            raise
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
