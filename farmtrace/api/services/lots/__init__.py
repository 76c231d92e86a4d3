"""Lots (product batches with a GS1 Digital Link identity) and their signed EPCIS events."""
