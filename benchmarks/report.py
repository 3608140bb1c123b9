"""One table (Markdown and terminal) and one JSON file from the systems' raw runs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from benchmarks.stats import summarize


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    target: str = ""  # "ratio>=2", "abs>=20000", "abs<=2"

    def check(self, ours: float | None, ratio: float | None) -> str:
        if not self.target:
            return ""
        kind, _, bound = self.target.partition(">=") if ">=" in self.target else self.target.partition("<=")
        value = ratio if kind == "ratio" else ours
        if value is None:
            return "n/a"
        ok = value >= float(bound) if ">=" in self.target else value <= float(bound)
        return "pass" if ok else "MISS"

    def target_text(self) -> str:
        if not self.target:
            return ""
        op = ">=" if ">=" in self.target else "<="
        kind, bound = self.target.split(op)
        op_text = "≥" if op == ">=" else "≤"
        if kind == "ratio":
            return f"{op_text} {bound}x best peer"
        return f"{op_text} {float(bound):g} {self.unit}"


METRICS = [
    Metric("enqueue_one", "enqueue 1 by 1", "tasks/s", True, "ratio>=1"),
    Metric("enqueue_bulk", "enqueue bulk (1 call)", "tasks/s", True, "abs>=20000"),
    Metric("drain_1", "drain, 1 worker process", "tasks/s", True, "ratio>=2"),
    Metric("drain_2", "drain, 2 worker processes", "tasks/s", True, "ratio>=2"),
    Metric("latency_p50", "enqueue→done p50 (idle worker)", "ms", False, "abs<=2"),
    Metric("latency_p95", "enqueue→done p95 (idle worker)", "ms", False, "abs<=4"),
    Metric("chain_p50", "5-step chain p50", "ms", False, "abs<=8"),
    Metric("order_p50", "order workflow paid→delivered p50 (50 in flight)", "ms", False),
    Metric("order_p95", "order workflow paid→delivered p95 (50 in flight)", "ms", False),
    Metric("order_overhead_per_step", "order workflow: engine time per step", "ms", False, "abs<=5"),
    Metric("order_solo_per_step", "order workflow: p50 / critical path (5 steps)", "ms", False),
    Metric("health_rps", "GET /api/health, 50 concurrent", "req/s", True),
    Metric("health_p50", "GET /api/health p50", "ms", False),
    Metric("health_p99", "GET /api/health p99", "ms", False, "abs<=10"),
    Metric("health_each_rps", "GET /api/health, database probed on every request", "req/s", True),
    Metric("health_each_p99", "GET /api/health p99, database probed on every request", "ms", False),
    Metric("health_floor_rps", "floor: a bare WSGI app on the same gunicorn", "req/s", True),
    Metric("health_floor_p99", "floor: a bare WSGI app on the same gunicorn, p99", "ms", False),
    Metric("cold_start_p50", "cold start: import config.wsgi → 200 (p50)", "ms", False, "abs<=700"),
    Metric("vercel_cold_start_p50", "cold start of the built Vercel function: spawn → first 200 (p50)", "ms", False),
    Metric("rss_drain_1", "worker peak RSS (drain, 1 process)", "MB", False),
    Metric("rss_drain_2", "worker peak RSS (drain, 2 processes, largest)", "MB", False),
]


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2013"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell(summary: dict[str, Any] | None) -> str:
    if not summary or summary.get("median") is None:
        return "\u2013"
    if summary["n"] == 1:
        return fmt(summary["median"])
    return f"{fmt(summary['median'])} ({fmt(summary['min'])}\u2013{fmt(summary['max'])})"


def build(results: dict[str, dict[str, Any]], systems: list[str]) -> dict[str, Any]:
    """The aggregate: per metric and system, median with min-max over runs; ratio; target check."""
    rows = []
    for metric in METRICS:
        per_system = {}
        for system in systems:
            raw = results.get(system, {}).get("metrics", {}).get(metric.key)
            if raw:
                per_system[system] = {**summarize(raw["runs"]), "runs": raw["runs"], "extra": raw.get("extra", [])}
        ours = per_system.get("ours", {}).get("median")
        peers = {s: v["median"] for s, v in per_system.items() if s != "ours" and v.get("median") is not None}
        best_peer, ratio = None, None
        if peers:
            best_peer = (max if metric.higher_is_better else min)(peers, key=peers.get)
            if ours is not None and peers[best_peer]:
                ratio = ours / peers[best_peer]
        if not per_system:
            continue
        rows.append(
            {
                "metric": metric.key,
                "label": metric.label,
                "unit": metric.unit,
                "higher_is_better": metric.higher_is_better,
                "systems": per_system,
                "best_peer": best_peer,
                "ratio_ours_to_best_peer": ratio,
                "target": metric.target_text(),
                "status": metric.check(ours, ratio),
            }
        )
    return {"rows": rows}


def markdown(aggregate: dict[str, Any], systems: list[str], meta: dict[str, Any], results: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks: our engine and other durable queues",
        "",
        f"Taken {meta['date']} with `{meta['command']}` ({meta['runs']} runs per figure; median (min\u2013max)).",
        "",
        f"Machine: {meta['machine']['nproc']} cores, {meta['machine']['ram_gb']} GiB RAM, {meta['machine']['cpu']}; "
        f"PostgreSQL {meta['machine']['postgresql']}, Redis {meta['machine'].get('redis', '?')}; "
        f"Python {meta['machine']['python']}.",
        f"Load average (1 min) at start {meta['load_start']}, at end {meta['load_end']}. {meta.get('load_note', '')}",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
    ]
    header = ["figure", "unit", *systems, "ours / best peer", "target", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for row in aggregate["rows"]:
        ratio = row["ratio_ours_to_best_peer"]
        ratio_text = f"{ratio:.2f}x ({row['best_peer']})" if ratio is not None else "\u2013"
        cells = [
            row["label"],
            row["unit"],
            *(cell(row["systems"].get(s)) for s in systems),
            ratio_text,
            row["target"],
            row["status"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "How each figure is taken (see benchmarks/README.md for details):", ""]
    lines += [f"- {note}" for note in meta["method"]]
    settings_lines = [
        f"- {system}: {results[system].get('settings')}"
        for system in systems
        if results.get(system, {}).get("settings")
    ]
    if settings_lines:
        lines += ["", "Settings used:", "", *settings_lines]
    errors = [
        f"- {system} / {fig}: {msg}"
        for system in systems
        for fig, msg in results.get(system, {}).get("errors", {}).items()
    ]
    if errors:
        lines += ["", "Not measured (errors):", "", *errors]
    return "\n".join(lines) + "\n"


def terminal(aggregate: dict[str, Any], systems: list[str]) -> str:
    header = ["figure", *systems, "ours/best", "target", ""]
    table = [header]
    for row in aggregate["rows"]:
        ratio = row["ratio_ours_to_best_peer"]
        table.append(
            [
                f"{row['label']} [{row['unit']}]",
                *(cell(row["systems"].get(s)) for s in systems),
                f"{ratio:.2f}x" if ratio is not None else "\u2013",
                row["target"],
                row["status"],
            ]
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table)
