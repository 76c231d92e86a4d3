"""The wire format devices and the gateway share: signed readings, MQTT topics, drop floors.

Standard library and ``cryptography`` only, like the simulator that imports it, so a Raspberry
Pi runs it (docs/wire-format.md).
"""
