"""What the API knows how to do, over the store: lots and their events, cold-chain judgement,
bundles, EPCIS, GS1 Digital Link, the consumer page, QR codes, and the offline bundle verifier.

Routes (``farmtrace.api.routes``) call these; these call ``farmtrace.store``. Nothing here knows
about HTTP requests (import-linter: services never import routes).
"""
