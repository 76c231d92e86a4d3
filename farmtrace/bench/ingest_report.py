"""The figures of ``farmtrace bench ingest`` judged against the gateway issue's targets.

With ``--repeat`` the judged figures are the median round's (by gateway rate), each gateway run
compared with the bare drain of its own round (they ran under the same load); the spread (min,
median, max over the rounds) of the rates and the ratio is printed beside them. The bare drain
runs at capacity (unpaced); the gateway at the offered rate unless ``--unpaced``. Latency is
judged from publish to commit (the publisher's timestamp to the block's commit), so a backlog
in the broker counts; the gateway's own receive-to-commit (from its ``on_message``) is reported. With
``--hostile-share`` each round's hostile run is compared with its clean run: "at full rate" is
read as the honest readings committed at least ``TARGET_HOSTILE_RATIO`` of the clean rate.
"""

from __future__ import annotations

import statistics
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
    """The gateway's own receive-to-commit quantile (from its ``on_message``)."""
    value = round_.gateway.get("receive_to_commit_s", {}).get(key)
    return None if value is None else float(value)


def _from_publish(round_: Round, key: str) -> float | None:
    """Publish-to-commit quantile: the publisher's timestamp to the block's commit."""
    value = (round_.publish_to_commit or {}).get(key)
    return None if value is None else float(value)


def ratio_label(result: IngestBenchResult) -> str:
    offered = "unpaced" if result.config.unpaced else f"offered {result.config.rate:,.0f}/s"
    return f"gateway ({offered}) / bare drain at capacity"


def spread(values: list[float]) -> dict[str, float] | None:
    """min, median and max of the rounds' figures (``None`` without any)."""
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def round_spreads(result: IngestBenchResult) -> dict[str, dict[str, float] | None]:
    """The spread over the rounds of the gateway rate, the bare drain rate and their ratio."""
    rounds = result.rounds
    bare = [r for r in rounds if r.bare_rate]
    return {
        "gateway_per_s": spread([r.gateway_rate for r in rounds]),
        "bare_per_s": spread([float(r.bare_rate or 0) for r in bare]),
        "gateway_over_bare": spread([r.gateway_rate / float(r.bare_rate or 1) for r in bare]),
        "publish_to_commit_p99_s": spread(
            [v for r in rounds if (v := _from_publish(r, "p99")) is not None]
        ),
    }


def targets(result: IngestBenchResult) -> list[Target]:
    """Rate, ratio to the bare drain at capacity, p99 publish-to-commit (not with
    ``--unpaced``: that measures the backlog), and nothing lost or duplicated."""
    median = result.median
    found = [Target("gateway accepted readings/s", median.gateway_rate, TARGET_RATE, "/s")]
    bare = median.bare_rate
    if bare:
        found.append(Target(ratio_label(result), median.gateway_rate / bare, TARGET_RATIO, "x"))
    if not result.config.unpaced:
        p99 = _from_publish(median, "p99")
        found.append(
            Target(
                "p99 publish-to-commit",
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
        "bare": {"publish": round_.bare_publish, "drain": round_.bare, "paced": False},
        "gateway": {
            "publish": round_.gateway_publish,
            "report": round_.gateway,
            "accepted_per_s": round_.gateway_rate,
            "publish_to_commit_s": round_.publish_to_commit,
            "publish_to_receive_s": round_.publish_to_receive,
        },
        "reconcile": {
            "stored": round_.stored,
            "distinct": round_.distinct,
            "devices_complete": round_.devices_complete,
        },
        "database_bytes": round_.database_bytes,
        "broker_cpu_seconds": round_.broker_cpu_seconds,
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
        "spread": round_spreads(result),
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
        f"{round_.gateway_publish.get('rate', 0):,.0f} msg/s{_cpu_text(round_)})",
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
            f"  {label}bare paho drain at capacity: {round_.bare['rate']:>9,.0f} msg/s  "
            f"({round_.bare['distinct']:,} distinct of {round_.bare['received']:,} received; "
            f"published unpaced at {round_.bare_publish['rate']:,.0f}/s)"
        )
    g = round_.gateway
    per = _cpu_text(round_)
    lines += [
        f"  {label}gateway:         {round_.gateway_rate:>9,.0f} readings/s committed  "
        f"(published at {round_.gateway_publish.get('rate', 0):,.0f}/s; "
        f"{g.get('blocks', 0)} blocks{per})",
        f"  {label}publish-to-commit: p50 {_fmt(_from_publish(round_, 'p50'))}  "
        f"p99 {_fmt(_from_publish(round_, 'p99'))}  max {_fmt(_from_publish(round_, 'max'))}  "
        f"(of which publish-to-receive, in the broker: p99 "
        f"{_fmt((round_.publish_to_receive or {}).get('p99'))})",
        f"  {label}receive-to-commit, the gateway's own (from on_message): p50 "
        f"{_fmt(_latency(round_, 'p50'))}  p99 {_fmt(_latency(round_, 'p99'))}  "
        f"max {_fmt(_latency(round_, 'max'))}",
        f"  {label}reconcile: {round_.stored:,} stored, {round_.distinct:,} distinct of "
        f"{messages:,}, {round_.devices_complete:,} devices with every seq",
    ]
    if round_.hostile is not None:
        lines += _hostile_lines(label, round_.hostile, round_)
    return lines


# The gateway's threads whose CPU its report gives (thread_cpu_seconds), as the line names them.
_THREADS = {
    "network": "network",
    "batcher": "batcher",
    "committer": "committer",
    "rust_core_workers": "rust_core workers",
}


def _cpu_text(round_: Round) -> str:
    """The gateway's CPU per accepted reading (whole process, after its start-up, and each
    thread's since it started, rust_core's signature workers among them), the broker's beside
    it, and where the database's CPU went."""
    g = round_.gateway
    cpu, accepted = g.get("cpu_seconds"), g.get("accepted")
    if not cpu or not accepted:
        return ""
    text = f"; {cpu / accepted * 1e6:.0f} us CPU a reading"
    startup = g.get("startup_cpu_seconds")
    if startup is not None:
        text += f", {(cpu - startup) / accepted * 1e6:.0f} after start-up"
    threads = g.get("thread_cpu_seconds") or {}
    split = [
        f"{label} {threads[name] / accepted * 1e6:.0f}"
        for name, label in _THREADS.items()
        if threads.get(name) is not None
    ]
    if split:
        arithmetic = g.get("ed25519_arithmetic")
        text += f" (threads: {', '.join(split)}" + (
            f"; Ed25519 arithmetic {arithmetic})" if arithmetic else ")"
        )
    if round_.broker_cpu_seconds is not None:
        text += f"; broker {round_.broker_cpu_seconds / accepted * 1e6:.0f} us"
    database = "SQLite, in the gateway's process" if round_.database_bytes else "not measured"
    return text + f"; database server: {database}"


def _spread_lines(result: IngestBenchResult) -> list[str]:
    lines = [f"  over {len(result.rounds)} rounds (min / median / max):"]
    for name, (label, unit, scale) in {
        "gateway_per_s": ("gateway readings/s", "", 1.0),
        "bare_per_s": ("bare drain msg/s", "", 1.0),
        "gateway_over_bare": ("gateway / bare drain", "x", 1.0),
        "publish_to_commit_p99_s": ("p99 publish-to-commit", " s", 1.0),
    }.items():
        figure = round_spreads(result)[name]
        if figure is not None:
            digits = ",.0f" if not unit else ".3f"
            lines.append(
                f"    {label:<24} {figure['min'] * scale:{digits}}{unit} / "
                f"{figure['median'] * scale:{digits}}{unit} / {figure['max'] * scale:{digits}}{unit}"
            )
    return lines


def render_text(result: IngestBenchResult) -> str:
    c = result.config
    offered = "published unpaced" if c.unpaced else f"offered at {c.rate:,.0f}/s"
    lines = [
        f"farmtrace bench ingest: {c.devices:,} devices, {c.messages:,} signed readings "
        f"({c.per_device} each) {offered} to the gateway; batches of {c.batch_size} or "
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
        lines += _spread_lines(result)
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
