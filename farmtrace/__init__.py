"""farmtrace: checkable farm data.

The packages, in the order data flows (docs/architecture.md draws them with the imports each
may make; ``make lint`` enforces those with import-linter):

- ``farmtrace.wire``: the wire format devices and the gateway share (signed readings, MQTT
  topics, drop floors); standard library and ``cryptography`` only.
- ``farmtrace.tlog``: plain-Python RFC 9162 Merkle trees and C2SP signed notes and checkpoints,
  the oracle ``farmtrace.rust_core`` (the Rust extension) is tested against.
- ``farmtrace.sim``: the simulated sensors; with ``farmtrace.wire`` and this file it runs on a
  Raspberry Pi with only paho-mqtt and cryptography (``make sim-bundle``).
- ``farmtrace.chain``: the chain's formats (entries, block headers, the chain log).
- ``farmtrace.store``: the only code that touches the database: tables, migrations, typed
  queries and the state directory's keys.
- ``farmtrace.gateway``: MQTT ingest and broker files; ``farmtrace.audit``: the chain audit;
  ``farmtrace.api``: the provenance API, routes over services over the store.
- ``farmtrace.cli``, ``farmtrace.demo``, ``farmtrace.bench``: commands on top.

This file imports nothing: the simulator imports ``farmtrace.sim`` on a bare Pi through it.
"""

__version__ = "0.1.0"
