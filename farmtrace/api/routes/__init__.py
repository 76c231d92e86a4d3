"""One router per noun; ``farmtrace.api.main`` includes them."""
