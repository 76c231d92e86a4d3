"""``farmtrace wallet``: a coupon holder's key and what it signs (docs/wallet.md).

A wallet is one Ed25519 key in a file of mode 0600 (:mod:`.keyfile`); its address is the raw
public key in 64 lowercase hex digits, the form coupons name their holder in. The wallet asks
the API who holds what (:mod:`.client`, the standard library's HTTP), signs holder statements
with :func:`farmtrace.commerce.entries.sign_statement` (:mod:`.statements`) and never decides a
rule itself: the server and every verifier replay them with
:class:`farmtrace.commerce.replay.CampaignReplay`.
"""
