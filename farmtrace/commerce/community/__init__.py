"""Value communities: a co-operative token ledger whose rules are data.

Pure code over bytes (no database, no HTTP): the rules document (:mod:`.rules`), the exact mint
and distribution computations (:mod:`.mint`), the signed entry formats (:mod:`.entries`) and the
one rules engine that the API, the audit, ``farmtrace verify`` and the browser's vectors agree
with (:mod:`.replay`). The formats are specified in ``docs/community.md``.
"""
