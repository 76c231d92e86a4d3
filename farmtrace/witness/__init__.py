"""``farmtrace witness``: a C2SP tlog-witness server that farms can run for each other.

:mod:`farmtrace.witness.logs` reads the list of logs it trusts, :mod:`farmtrace.witness.core`
judges an ``add-checkpoint`` request and cosigns (state in :mod:`farmtrace.store.witness_state`),
:mod:`farmtrace.witness.server` speaks HTTP and :mod:`farmtrace.witness.command` is the command.
See docs/witness.md.
"""
