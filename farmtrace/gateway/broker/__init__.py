"""The broker's access files made from the device registry: ``farmtrace broker files``.

A credential per device and one for the gateways, a Mosquitto password file and an ACL that
lets each device publish only to its own topics (``docs/broker.md``).
"""
