"""Harvest campaigns and product coupons: their entry formats and the plain reference replay.

Pure code over bytes (no database, no HTTP, no Rust): the API signs and stores through
``farmtrace.store.campaigns``, while ``farmtrace verify`` and ``farmtrace audit`` replay the same
entries with :mod:`farmtrace.commerce.replay`, so one set of rules decides what is valid
everywhere. The formats are specified in ``docs/commerce.md``.
"""
