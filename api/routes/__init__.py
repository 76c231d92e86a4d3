"""One router per noun; ``api.main`` includes them."""
