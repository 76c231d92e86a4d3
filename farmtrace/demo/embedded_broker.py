"""``python -m farmtrace.demo.embedded_broker CONFIG.toml``: the embedded MQTT broker.

iotcore's rumqttd runs in this process until it is killed (rumqttd has no shutdown call; the
demo stops it with SIGTERM, whose default action ends the process). rumqttd logs every packet
inside ``error_span!``s, which surface as ERROR records; they are silenced as iotcore's own
child process does, so the log holds only Python-side warnings.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["main"]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m farmtrace.demo.embedded_broker CONFIG.toml", file=sys.stderr)
        return 2
    try:
        from iotcore import IotCoreBroker
    except ImportError as exc:
        print(f"embedded broker: iotcore is not installed ({exc})", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("rumqttd").setLevel(logging.CRITICAL)
    broker = IotCoreBroker(config_path=argv[0])
    print(f"embedded broker listening on {', '.join(broker.listeners())}", flush=True)
    broker.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
