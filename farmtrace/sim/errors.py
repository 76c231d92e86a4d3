"""The simulator's error type: one class per way a run can fail, each with its exit code.

    SimulatorError            exit 1  (base; never raised directly)
    ├── ConfigError           exit 2  bad arguments, scenario, fault or attack spec
    ├── BrokerError           exit 3  broker unreachable or refusing the connection
    └── StateError            exit 4  state directory unusable or in use by another run

The command line maps these to a message on stderr and the exit code, in one place.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_BROKER = 3
EXIT_STATE = 4


class SimulatorError(Exception):
    """Base of the simulator's errors; ``exit_code`` is what the process returns."""

    exit_code = EXIT_INTERNAL


class ConfigError(SimulatorError):
    """An argument, scenario, fault or attack description is invalid; the message says which."""

    exit_code = EXIT_CONFIG


class BrokerError(SimulatorError):
    """The broker could not be reached, or refused the devices' connection."""

    exit_code = EXIT_BROKER


class StateError(SimulatorError):
    """The state directory cannot be used (permissions, corruption, another run holds it)."""

    exit_code = EXIT_STATE
