"""Verified ingest: MQTT readings in, durable blocks out, acknowledged only after the commit.

Pipeline (one thread each): paho's network thread puts deliveries in the :mod:`inbox`; the
:mod:`batcher` decodes and checks them and closes batches at a size or an age; the
:mod:`committer` verifies signatures in bulk, judges each message (:mod:`judge`,
:mod:`sequencing`), stores the batch durably through ``farmtrace.store``, acknowledges in arrival
order on the current connection (:mod:`link`) and publishes commit watermarks. :mod:`service`
wires it up; :mod:`command` is ``farmtrace gateway`` and ``farmtrace devices``. The design, the
acknowledgement rule and the broker settings are in ``docs/gateway.md``.
"""
