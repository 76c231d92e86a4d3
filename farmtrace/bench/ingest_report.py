"""The figures of ``farmtrace bench ingest`` judged against the gateway issue's targets."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from farmtrace.bench.core_report import Target
from farmtrace.bench.ingest import IngestBenchResult

__all__ = ["render_text", "targets", "to_json"]

TARGET_RATE = 10_000.0
TARGET_RATIO = 0.8
LATENCY_SLACK_S = 0.5


def _latency(result: IngestBenchResult, key: str) -> float | None:
    value = result.gateway.get("receive_to_commit_s", {}).get(key)
    return None if value is None else float(value)


def targets(result: IngestBenchResult) -> list[Target]:
    """Rate, ratio to the bare drain, p99 latency, and nothing lost or duplicated."""
    found = [Target("gateway accepted readings/s", result.gateway_rate, TARGET_RATE, "/s")]
    bare = result.bare_rate
    if bare:
        found.append(Target("gateway / bare drain", result.gateway_rate / bare, TARGET_RATIO, "x"))
    p99 = _latency(result, "p99")
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
    if result.bare is not None:
        bare_lost = result.config.messages - int(result.bare["distinct"])
        found.append(Target("bare drain: lost", float(bare_lost), 0.0, "", at_most=True))
    return found


def to_json(result: IngestBenchResult) -> dict[str, Any]:
    config = asdict(result.config)
    config["keep"] = str(result.config.keep) if result.config.keep else None
    return {
        "config": config,
        "messages": result.config.messages,
        "per_device": result.config.per_device,
        "run_tag": result.run_tag,
        "sign_seconds": result.sign_seconds,
        "bare": {"publish": result.bare_publish, "drain": result.bare},
        "gateway": {
            "publish": result.gateway_publish,
            "report": result.gateway,
            "accepted_per_s": result.gateway_rate,
        },
        "reconcile": {
            "stored": result.stored,
            "distinct": result.distinct,
            "devices_complete": result.devices_complete,
            "lost": result.lost,
            "duplicated": result.duplicated,
        },
        "targets": [{**asdict(t), "passed": t.passed} for t in targets(result)],
    }


def render_text(result: IngestBenchResult) -> str:
    c = result.config
    lines = [
        f"farmtrace bench ingest: {c.devices:,} devices, {result.config.messages:,} signed readings "
        f"({c.per_device} each) offered at {c.rate:,.0f}/s; batches of {c.batch_size} or "
        f"{c.batch_age:g} s",
        f"  pre-signing (before the timed windows): {result.sign_seconds:.1f} s",
    ]
    if result.bare is not None and result.bare_publish is not None:
        lines.append(
            f"  bare paho drain:  {result.bare['rate']:>9,.0f} msg/s  "
            f"({result.bare['distinct']:,} distinct of {result.bare['received']:,} received; "
            f"published at {result.bare_publish['rate']:,.0f}/s)"
        )
    g = result.gateway
    p50, p99 = _latency(result, "p50"), _latency(result, "p99")
    lines += [
        f"  gateway:          {result.gateway_rate:>9,.0f} readings/s committed  "
        f"(published at {result.gateway_publish.get('rate', 0):,.0f}/s; {g.get('blocks', 0)} blocks)",
        f"  receive-to-commit: p50 {_fmt(p50)}  p99 {_fmt(p99)}  max "
        f"{_fmt(_latency(result, 'max'))}",
        f"  reconcile: {result.stored:,} stored, {result.distinct:,} distinct, "
        f"{result.devices_complete:,}/{c.devices:,} devices with every seq; lost {result.lost}, "
        f"duplicated {result.duplicated}",
        "",
        "targets:",
    ]
    for t in targets(result):
        bound = "<=" if t.at_most else ">="
        lines.append(
            f"  {'PASS' if t.passed else 'FAIL'}  {t.name}: {t.figure:,.3f}{t.unit} "
            f"({bound} {t.threshold:,.3f}{t.unit})"
        )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"
