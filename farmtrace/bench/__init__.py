"""Benchmark commands: ``farmtrace bench core`` and later ``ingest`` and ``api``."""
