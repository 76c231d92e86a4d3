"""The chain: block headers, block hashes and the chain log (see ``docs/chain.md``)."""
