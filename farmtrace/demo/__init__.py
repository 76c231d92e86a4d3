"""``farmtrace demo``: the whole system on one machine with nothing installed but Python."""
