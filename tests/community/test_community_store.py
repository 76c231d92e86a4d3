"""The community store on SQLite and PostgreSQL: one transaction per entry, the chain never
forks (compare-and-set on the head), a member state is spent once, every entry is queued for
the chain, and a refused ``build`` leaves nothing behind. The payloads here are opaque bytes:
the store does not read them (the service's tests sign real entries)."""

from __future__ import annotations

import hashlib
import threading

import pytest

from farmtrace.store.communities import (
    Communities,
    CommunityChange,
    CommunityHead,
    CommunityView,
    MemberChange,
    NewCommunity,
    RulesRecord,
    TransferSpend,
)
from farmtrace.store.database import open_database
from farmtrace.store.errors import StateConflictError
from farmtrace.store.pending import pending_entries

SIGNER = "community.test"
A, B = "a" * 64, "b" * 64
ZERO = "0" * 64


def _state(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _genesis(seq: int) -> CommunityChange:
    payload = b"FV\x01genesis-%d" % seq
    return CommunityChange(
        "rules",
        payload,
        _state(payload),
        1000,
        supply=100,
        members=2,
        rules_version=1,
        changes=(MemberChange(A, 60, ZERO, 0, 60), MemberChange(B, 40, ZERO, 0, 40)),
        rules=RulesRecord(1, b"{}", _state(b"{}"), 1),
    )


def _create(store: Communities) -> CommunityHead:
    head = store.create(NewCommunity("test", "Test token", SIGNER, "c" * 64), _genesis)
    assert head is not None
    return head


def test_create_and_append(db_url: str) -> None:
    database = open_database(db_url)
    try:
        store = Communities(database)
        head = _create(store)
        assert (head.eseq, head.supply, head.members, head.rules_version) == (1, 100, 2, 1)
        assert store.create(NewCommunity("test", "x", SIGNER, "c" * 64), _genesis) is None

        def deposit(h: CommunityHead, seq: int, view: CommunityView) -> CommunityChange:
            member = view.member(A)
            assert member is not None and member.balance == 60
            payload = b"FV\x01deposit-%d" % seq
            return CommunityChange(
                "deposit",
                payload,
                _state(payload),
                2000,
                h.supply + 25,
                h.members,
                h.rules_version,
                (MemberChange(A, member.balance + 25, member.state, member.moves, 25),),
            )

        result = store.append("test", deposit)
        assert result is not None
        after, _ = result
        assert (after.eseq, after.supply) == (2, 125)
        assert store.append("nothing", deposit) is None
        member = store.member("test", A)
        assert member is not None and member.balance == 85
        assert [(p.eseq, p.delta, p.op) for p in store.postings(head.id, A)] == [
            (1, 60, "rules"),
            (2, 25, "deposit"),
        ]
        entries = store.entries(head.id, with_anchors=False)
        assert [(e.eseq, e.op, e.seq) for e in entries] == [(1, "rules", 1), (2, "deposit", 2)]
        with database.engine.connect() as conn:
            queued = [(p.device_id, p.seq, p.payload) for p in pending_entries(conn)]
        assert queued == [(SIGNER, e.seq, e.payload) for e in entries]
        assert [r.version for r in store.rules(head.id)] == [1]
    finally:
        database.close()


def _transfer(prev: str, amount: int = 10):  # type: ignore[no-untyped-def]
    def build(h: CommunityHead, seq: int, view: CommunityView) -> CommunityChange:
        sender = view.member(A)
        receiver = view.member(B)
        assert sender is not None and receiver is not None
        payload = b"FV\x01transfer-%d-%s" % (seq, prev.encode())
        statement = _state(payload + b"statement")
        return CommunityChange(
            "transfer",
            payload,
            _state(payload),
            3000,
            h.supply,
            h.members,
            h.rules_version,
            (
                MemberChange(A, sender.balance - amount, statement, sender.moves + 1, -amount),
                MemberChange(B, receiver.balance + amount, receiver.state, receiver.moves, amount),
            ),
            transfer=TransferSpend(A, prev, B, amount),
        )

    return build


def test_a_state_is_spent_once(db_url: str) -> None:
    database = open_database(db_url)
    try:
        store = Communities(database)
        head = _create(store)
        assert store.append("test", _transfer(ZERO)) is not None
        current = store.member("test", A)
        assert current is not None and current.balance == 50
        with pytest.raises(StateConflictError) as caught:
            store.append("test", _transfer(ZERO))
        assert caught.value.current == current.state
        assert store.get("test") == store.get("test")
        again = store.get("test")
        assert again is not None and again.eseq == 2
        assert [t.prev for t in store.transfers(head.id)] == [ZERO]
    finally:
        database.close()


def test_a_refused_build_writes_nothing(db_url: str) -> None:
    database = open_database(db_url)
    try:
        store = Communities(database)
        _create(store)

        def refuse(h: CommunityHead, seq: int, view: CommunityView) -> CommunityChange:
            raise ValueError("refused by the rules")

        with pytest.raises(ValueError, match="refused by the rules"):
            store.append("test", refuse)
        head = store.get("test")
        assert head is not None and head.eseq == 1
        with database.engine.connect() as conn:
            assert len(pending_entries(conn)) == 1
    finally:
        database.close()


def test_concurrent_writers_never_fork(db_url: str) -> None:
    """Eight writers append at once: every entry lands at its own eseq with its own seq."""
    database = open_database(db_url)
    try:
        store = Communities(database)
        head = _create(store)
        errors: list[BaseException] = []

        def bump(h: CommunityHead, seq: int, view: CommunityView) -> CommunityChange:
            payload = b"FV\x01bump-%d-%d" % (h.eseq, seq)
            return CommunityChange(
                "deposit", payload, _state(payload), 4000, h.supply, h.members, 1
            )

        def run() -> None:
            try:
                store.append("test", bump)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        entries = store.entries(head.id, with_anchors=False)
        assert [e.eseq for e in entries] == list(range(1, 10))
        assert sorted(e.seq for e in entries) == list(range(1, 10))
    finally:
        database.close()
