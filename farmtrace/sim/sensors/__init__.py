"""Sensor models: the physical signals (weather, soil, cold rooms, reefer trucks) and the
imperfect devices that measure them (bias, noise, resolution, battery).

Environments hold the shared truth of a place (one field's weather, one cold room's air); each
device reads it through its own channels with its own bias and noise. Every model is a function
of simulated time that only ever moves forward, driven by a seeded ``random.Random`` so a
scenario replays identically with the same seed.
"""
