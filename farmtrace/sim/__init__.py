"""Simulated farm sensors that sign their readings and publish them over MQTT.

Runs on Python 3.11 with only paho-mqtt, cryptography and the standard library
(``requirements.txt``), so it can run on a Raspberry Pi next to real sensors.
``farmtrace.wire.protocol`` is the reading wire format the gateway imports.
"""
