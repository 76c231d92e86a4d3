"""The tamper matrix (tests/faults/tamper_matrix.py): every single change to a row a proof, the
gateway or the audit relies on is refused at the gateway's start-up or named by the audit, as
its case says; and docs/tamper-matrix.md is the table those cases make."""

from __future__ import annotations

from pathlib import Path

import pytest
from make_tamper_matrix_doc import DOC, render
from tamper_matrix import AUDIT, BOTH, CASES, REPORT, STARTUP, Case, build_base, device_view

from farmtrace.audit import run_audit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, dict[str, tuple[object, ...]]]:
    where = tmp_path_factory.mktemp("tamper-base")
    db, state = build_base(where)
    report = run_audit(f"sqlite:///{db}")
    assert report.ok, report.failure
    return db, state, device_view(report)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_change_is_caught_where_the_matrix_says(
    case: Case, base: tuple[Path, Path, dict[str, tuple[object, ...]]], tmp_path: Path
) -> None:
    from tamper_matrix import run_case

    db, state, view = base
    outcome = run_case(case, db, state, tmp_path, view)
    assert outcome.caught == case.caught, outcome
    if case.caught in (STARTUP, BOTH):
        assert outcome.startup is not None and case.startup_says in outcome.startup, outcome
    if case.caught in (AUDIT, BOTH):
        assert outcome.audit is not None and case.audit_says in outcome.audit, outcome
    if case.caught == REPORT:
        assert outcome.report is not None and case.audit_says in outcome.report, outcome


def test_every_table_has_its_first_middle_and_newest_row_deleted() -> None:
    deleted: dict[str, set[str]] = {}
    for case in CASES:
        if case.column is None:
            deleted.setdefault(case.table, set()).add(case.row)
    single_row = {"chains", "chain_keys"}  # one row: first, middle and newest are the same
    for table in {c.table for c in CASES} - {"lots"}:
        wanted = {"first"} if table in single_row else {"first", "middle", "newest"}
        if table == "signing_keys":
            wanted = {"first", "newest"}  # two rows
        assert wanted <= deleted.get(table, set()), table


def test_the_documented_table_is_the_matrix() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/tamper-matrix.md is out of date: run .venv/bin/python "
        "tests/faults/make_tamper_matrix_doc.py"
    )
