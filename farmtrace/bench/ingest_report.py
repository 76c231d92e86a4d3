"""The figures of ``farmtrace bench ingest`` judged against the gateway issue's targets.

With ``--repeat`` the judged figures are the median round's (by gateway rate), each gateway run
compared with the bare drain of its own round (they ran under the same load). With
``--hostile-share`` each round's hostile run is compared with its clean run: "at full rate" is
read as the honest readings committed at least ``TARGET_HOSTILE_RATIO`` of the clean rate.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from farmtrace.bench.core_report import Target
from farmtrace.bench.ingest import IngestBenchResult, Round

__all__ = ["render_text", "targets", "to_json"]

TARGET_RATE = 10_000.0
TARGET_RATIO = 0.8
LATENCY_SLACK_S = 0.5
TARGET_HOSTILE_RATIO = 0.9


def _latency(round_: Round, key: str) -> float | None:
    value = round_.gateway.get("receive_to_commit_s", {}).get(key)
    return None if value is None else float(value)


def targets(result: IngestBenchResult) -> list[Target]:
    """Rate, ratio to the bare drain, p99 latency, and nothing lost or duplicated."""
    median = result.median
    found = [Target("gateway accepted readings/s", median.gateway_rate, TARGET_RATE, "/s")]
    bare = median.bare_rate
    if bare:
        found.append(Target("gateway / bare drain", median.gateway_rate / bare, TARGET_RATIO, "x"))
    p99 = _latency(median, "p99")
    found.append(
        Target(
            "p99 receive-to-commit",
            float("inf") if p99 is None else p99,
            result.config.batch_age + LATENCY_SLACK_S,
            "s",
            at_most=True,
        )
    )
    found.append(Target("readings lost", float(result.lost), 0.0, "", at_most=True))
    found.append(Target("readings duplicated", float(result.duplicated), 0.0, "", at_most=True))
    hostile = median.hostile
    if hostile is not None and result.mix is not None:
        ratio = hostile.gateway_rate / median.gateway_rate if median.gateway_rate else 0.0
        found.append(Target("hostile mix: honest rate / clean", ratio, TARGET_HOSTILE_RATIO, "x"))
        found.append(
            Target("hostile messages stored", float(_hostile_stored(result)), 0.0, "", at_most=True)
        )
    bare_lost = [result.config.messages - int(r.bare["distinct"]) for r in result.rounds if r.bare]
    if bare_lost:
        found.append(Target("bare drain: lost", float(max(bare_lost)), 0.0, "", at_most=True))
    return found


def _hostile_stored(result: IngestBenchResult) -> int:
    """Readings stored in the hostile runs beyond the honest ones, the corpus's prelude and the
    first copy of each kind stored and flagged: hostile messages that got in (worst run)."""
    assert result.mix is not None
    extra = result.mix.stored_extra
    return max(
        int(r.hostile.gateway["accepted"]) - r.hostile.distinct - extra
        for r in result.rounds
        if r.hostile is not None
    )


def _round_json(round_: Round) -> dict[str, Any]:
    hostile = None if round_.hostile is None else _round_json(round_.hostile)
    return {
        "bare": {"publish": round_.bare_publish, "drain": round_.bare},
        "gateway": {
            "publish": round_.gateway_publish,
            "report": round_.gateway,
            "accepted_per_s": round_.gateway_rate,
        },
        "reconcile": {
            "stored": round_.stored,
            "distinct": round_.distinct,
            "devices_complete": round_.devices_complete,
        },
        "database_bytes": round_.database_bytes,
        "hostile": hostile,
    }


def to_json(result: IngestBenchResult) -> dict[str, Any]:
    config = asdict(result.config)
    config["keep"] = str(result.config.keep) if result.config.keep else None
    return {
        "config": config,
        "messages": result.config.messages,
        "per_device": result.config.per_device,
        "run_tag": result.run_tag,
        "sign_seconds": result.sign_seconds,
        "rounds": [_round_json(r) for r in result.rounds],
        "median_round": result.rounds.index(result.median),
        "lost": result.lost,
        "duplicated": result.duplicated,
        "hostile_mix": None if result.mix is None else _mix_json(result),
        "targets": [{**asdict(t), "passed": t.passed} for t in targets(result)],
    }


def _mix_json(result: IngestBenchResult) -> dict[str, Any]:
    mix = result.mix
    assert mix is not None
    return {
        "share": result.config.hostile_share,
        "messages": mix.messages,
        "honest": mix.honest,
        "hostile": mix.hostile,
        "kinds": mix.kinds,
        "left_out": mix.left_out,
        "expected": dict(sorted(mix.expected.items())),
        "stored_hostile": _hostile_stored(result),
        "fill_bytes": mix.fill_bytes,
    }


def _hostile_lines(label: str, round_: Round, clean: Round) -> list[str]:
    g = round_.gateway
    rejected = sum(int(n) for n in g.get("rejected", {}).values())
    ratio = round_.gateway_rate / clean.gateway_rate if clean.gateway_rate else 0.0
    return [
        f"  {label}gateway, hostile mix: {round_.gateway_rate:>7,.0f} honest readings/s "
        f"committed = {ratio:.3f}x the clean run (published at "
        f"{round_.gateway_publish.get('rate', 0):,.0f} msg/s)",
        f"  {label}hostile mix: {rejected:,} quarantined in {len(g.get('rejected', {}))} "
        f"reasons, {g.get('duplicates', 0):,} duplicates; reconcile: {round_.stored:,} stored, "
        f"{round_.distinct:,} distinct, {round_.devices_complete:,} devices with every seq",
        f"  {label}database: {_mib(round_.database_bytes)} with the hostile mix, "
        f"{_mib(clean.database_bytes)} clean: the attack grew it by "
        f"{_mib(round_.database_bytes - clean.database_bytes)}; "
        f"{sum(g.get('quarantine_refused', {}).values()):,} refused past the quarantine's "
        "bounds (counted, not stored)",
    ]


def _round_lines(number: int | None, round_: Round, messages: int) -> list[str]:
    label = "" if number is None else f"round {number}: "
    lines = []
    if round_.bare is not None and round_.bare_publish is not None:
        lines.append(
            f"  {label}bare paho drain: {round_.bare['rate']:>9,.0f} msg/s  "
            f"({round_.bare['distinct']:,} distinct of {round_.bare['received']:,} received; "
            f"published at {round_.bare_publish['rate']:,.0f}/s)"
        )
    g = round_.gateway
    cpu = g.get("cpu_seconds")
    per = f"; {cpu / g['accepted'] * 1e6:.0f} us CPU a reading" if cpu and g.get("accepted") else ""
    lines += [
        f"  {label}gateway:         {round_.gateway_rate:>9,.0f} readings/s committed  "
        f"(published at {round_.gateway_publish.get('rate', 0):,.0f}/s; "
        f"{g.get('blocks', 0)} blocks{per})",
        f"  {label}receive-to-commit: p50 {_fmt(_latency(round_, 'p50'))}  "
        f"p99 {_fmt(_latency(round_, 'p99'))}  max {_fmt(_latency(round_, 'max'))}",
        f"  {label}reconcile: {round_.stored:,} stored, {round_.distinct:,} distinct of "
        f"{messages:,}, {round_.devices_complete:,} devices with every seq",
    ]
    if round_.hostile is not None:
        lines += _hostile_lines(label, round_.hostile, round_)
    return lines


def render_text(result: IngestBenchResult) -> str:
    c = result.config
    lines = [
        f"farmtrace bench ingest: {c.devices:,} devices, {c.messages:,} signed readings "
        f"({c.per_device} each) offered at {c.rate:,.0f}/s; batches of {c.batch_size} or "
        f"{c.batch_age:g} s",
        f"  pre-signing (before the timed windows): {result.sign_seconds:.1f} s",
    ]
    if result.mix is not None:
        m = result.mix
        lines.append(
            f"  hostile mix: {m.hostile:,} of {m.messages:,} messages "
            f"({c.hostile_share:.0%}), {m.kinds} corpus kinds in turn"
            + (f" (left out: {', '.join(m.left_out)})" if m.left_out else "")
            + "; honest readings offered at the clean rate"
        )
    if len(result.rounds) == 1:
        lines += _round_lines(None, result.rounds[0], c.messages)
    else:
        for number, round_ in enumerate(result.rounds, start=1):
            lines += _round_lines(number, round_, c.messages)
        lines.append(f"  judged: round {result.rounds.index(result.median) + 1} (median)")
    lines += [f"  lost {result.lost}, duplicated {result.duplicated}", "", "targets:"]
    for t in targets(result):
        bound = "<=" if t.at_most else ">="
        lines.append(
            f"  {'PASS' if t.passed else 'FAIL'}  {t.name}: {t.figure:,.3f}{t.unit} "
            f"({bound} {t.threshold:,.3f}{t.unit})"
        )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def _mib(size: int) -> str:
    return f"{size / 2**20:.2f} MiB"
