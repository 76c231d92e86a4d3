"""The quarantine's refused counters: ``add_refused`` (one prepared upsert) leaves exactly the
rows ``add_refused_reference`` (SQLAlchemy's ``on_conflict_do_update``) leaves, on SQLite and
PostgreSQL, over many batches of counts that create and add to counters."""

from __future__ import annotations

import random

from sqlalchemy import select

from farmtrace.store.chains import ensure_chain
from farmtrace.store.engine import create_db_engine
from farmtrace.store.migrate import upgrade
from farmtrace.store.refused import (
    REFUSED,
    RefusedCount,
    add_refused,
    add_refused_reference,
    refused_counts,
)


def test_upsert_matches_the_reference(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        upgrade(engine)
        fast_chain = ensure_chain(engine, "farmtrace.example/refused-fast")
        plain_chain = ensure_chain(engine, "farmtrace.example/refused-plain")
        rng = random.Random(18)
        devices, reasons = ["", "urn:epc:id:giai:4012345.A", 'it\'s "odd"'], ["replay", "bad-topic"]
        for _ in range(25):
            keys = rng.sample([(d, r) for d in devices for r in reasons], rng.randrange(0, 6))
            counts = []
            for device, reason in keys:
                first = rng.uniform(0, 1e9)
                last = first + rng.choice((0.0, rng.uniform(0, 100)))
                counts.append(
                    RefusedCount(device, reason, rng.randrange(1, 5000), rng.randrange(0, 2**40), first, last)
                )  # fmt: skip
            with engine.begin() as conn:
                add_refused(conn, fast_chain, counts)
                add_refused_reference(conn, plain_chain, counts)
        columns = [c for c in REFUSED.c if c.name != "chain_id"]
        with engine.connect() as conn:
            rows = {
                chain: conn.execute(
                    select(*columns)
                    .where(REFUSED.c.chain_id == chain)
                    .order_by(REFUSED.c.device_id, REFUSED.c.reason)
                ).all()
                for chain in (fast_chain, plain_chain)
            }
            assert rows[fast_chain] == rows[plain_chain]
            assert len(rows[fast_chain]) == len(devices) * len(reasons)
            summed = {(c.device_id, c.reason): c for c in refused_counts(conn)}
        fast = {(r.device_id, r.reason): r for r in rows[fast_chain]}
        assert all(summed[k].refused == 2 * fast[k].refused for k in fast)
    finally:
        engine.dispose()
