"""Server-side SVG for the back office (dashboard charts, a run's timeline): no JavaScript, no CDN."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from metrics.causes import collapse, countdown
from orchestration import clock
from orchestration.models import AgentRun, AttemptOutcome, OperatorAction, Task, TaskStatus, WorkflowRun

WIDTH, HEIGHT = 560, 170
TIMELINE_WIDTH, TIMELINE_LABEL, ROW = 900, 130, 22
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 14, 26, 28


def _fmt(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2g}" if value < 1 else f"{value:.1f}"


def line_chart(
    points: Sequence[tuple[datetime, float | None]],
    *,
    title: str,
    unit: str = "",
    threshold: float | None = None,
    percent: bool = False,
    top: float | None = None,
    live_from: datetime | None = None,
) -> SafeString:
    """A line over time; gaps (None) break the line; an optional dashed threshold line.

    `top` fixes the scale (1.0 for a share); `live_from` shades the points from that
    moment on as live: computed from raw rows just now, not yet rolled up (the window
    under way is partial).
    """
    values = [v for _, v in points if v is not None]
    top = top or max([*values, threshold or 0.0, 0.0]) or 1.0
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    count = max(len(points) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return PAD_LEFT + plot_w * i / count, PAD_TOP + plot_h * (1 - v / top)

    segments: list[list[str]] = [[]]
    for i, (_, v) in enumerate(points):
        if v is None:
            segments.append([])
        else:
            x, y = xy(i, v)
            segments[-1].append(f"{x:.1f},{y:.1f}")
    label = (lambda v: f"{v:.1%}") if percent else (lambda v: f"{_fmt(v)} {unit}".strip())
    parts = [
        format_html('<text x="4" y="14" class="chart-title">{}</text>', title),
        format_html(
            '<text x="{}" y="{}" class="chart-axis" text-anchor="end">{}</text>', PAD_LEFT - 4, PAD_TOP + 4, label(top)
        ),
        format_html(
            '<text x="{}" y="{}" class="chart-axis" text-anchor="end">0</text>', PAD_LEFT - 4, PAD_TOP + plot_h
        ),
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" class="chart-frame"/>',
            PAD_LEFT,
            PAD_TOP + plot_h,
            PAD_LEFT + plot_w,
            PAD_TOP + plot_h,
        ),
    ]
    if points:
        # Three time labels (start, middle, end), in the format the span needs: a week
        # says the day, an hour only the time.
        days = (points[-1][0] - points[0][0]).total_seconds() > 20 * 3600
        stamp = "%a %d %b %H:%M" if days else "%H:%M"
        middle = len(points) // 2
        for index, anchor in ((0, "start"), (middle, "middle"), (len(points) - 1, "end")):
            if index == middle and len(points) < 3:
                continue
            parts.append(
                format_html(
                    '<text x="{}" y="{}" class="chart-axis" text-anchor="{}">{}</text>',
                    f"{xy(index, 0)[0]:.1f}",
                    HEIGHT - 6,
                    anchor,
                    f"{points[index][0]:{stamp}}",
                )
            )
    live_index = next((i for i, (at, _) in enumerate(points) if live_from is not None and at >= live_from), None)
    if live_index is not None:
        # The band starts half a step before the first live point, so a lone last point is inside it.
        band_x = PAD_LEFT if live_index == 0 else xy(live_index, 0)[0] - plot_w / count / 2
        band_w = max(PAD_LEFT + plot_w - band_x, 6.0)
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" class="chart-live">'
                "<title>live: computed from raw attempts now, not yet rolled up (the last window is partial)</title>"
                '</rect><text x="{}" y="{}" class="chart-live-label" text-anchor="end">live</text>',
                f"{band_x:.1f}",
                PAD_TOP,
                f"{band_w:.1f}",
                plot_h,
                PAD_LEFT + plot_w,
                PAD_TOP - 6,
            )
        )
    if threshold is not None:
        _, ty = xy(0, threshold)
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" class="chart-threshold"><title>threshold {}</title></line>',
                PAD_LEFT,
                f"{ty:.1f}",
                PAD_LEFT + plot_w,
                f"{ty:.1f}",
                label(threshold),
            )
        )
    for seg in segments:
        if len(seg) > 1:
            parts.append(format_html('<polyline points="{}" class="chart-line"/>', " ".join(seg)))
        elif len(seg) == 1:
            x, y = seg[0].split(",")
            # A lone point (one bucket with data, e.g. the live one) must stay visible.
            parts.append(format_html('<circle cx="{}" cy="{}" r="3.5" class="chart-dot"/>', x, y))
    if not values:
        parts.append(
            format_html('<text x="{}" y="{}" class="chart-axis">no data yet</text>', WIDTH / 2 - 30, HEIGHT / 2)
        )
    body = mark_safe("".join(parts))  # noqa: S308 - every part above is format_html-escaped
    return format_html(
        '<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" height="{}">{}</svg>',
        title,
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        body,
    )


def bar_rows(rows: Sequence[tuple[str, float | None, float | None]], *, title: str, unit: str = "ms") -> SafeString:
    """Horizontal bars: one row per label, the p50 bar inside the p95 bar."""
    top = max([v for _, a, b in rows for v in (a, b) if v is not None] or [1.0]) or 1.0
    # The right margin holds the "typical … / slow … ms" (p50 / p95) label in full.
    row_h, label_w, bar_w = 24, 190, WIDTH - 190 - 210
    height = PAD_TOP + row_h * max(len(rows), 1) + 8

    def bar(y: int, value: float | None, css: str) -> SafeString:
        if value is None:
            return SafeString("")
        return format_html(
            '<rect x="{}" y="{}" width="{}" height="14" class="{}"/>', label_w, y, f"{bar_w * value / top:.1f}", css
        )

    items = format_html_join(
        "",
        '{}{}{}<text x="{}" y="{}" class="chart-axis">typical {} / slow {}</text>',
        (
            (
                format_html('<text x="4" y="{}" class="chart-label">{}</text>', PAD_TOP + i * row_h + 12, name),
                bar(PAD_TOP + i * row_h, p95, "chart-bar-p95"),
                bar(PAD_TOP + i * row_h, p50, "chart-bar-p50"),
                label_w + bar_w + 4,
                PAD_TOP + i * row_h + 12,
                "-" if p50 is None else _fmt(p50),
                "-" if p95 is None else f"{_fmt(p95)} {unit}",
            )
            for i, (name, p50, p95) in enumerate(rows)
        ),
    )
    return format_html(
        '<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" height="{}">'
        '<text x="4" y="14" class="chart-title">{}</text>{}</svg>',
        title,
        WIDTH,
        height,
        WIDTH,
        height,
        title,
        items or format_html('<text x="4" y="{}" class="chart-axis">no attempts in this period</text>', PAD_TOP + 12),
    )


def timeline(run: WorkflowRun) -> SafeString:
    """Each attempt as a bar on one time axis, a row per step, coloured by outcome (SVG, no JS).

    Operator acts (replays, retries, cancels) are drawn as marked vertical lines where they
    happened; below the drawing, the failed attempts with their cause in words (identical
    consecutive errors of a step on one line), and the next retry of each waiting step.
    """
    now = clock.now()
    order = [s["name"] for s in run.definition.get("steps", [])]
    tasks = {t.step: t for t in run.tasks.all()}
    attempts = list(AgentRun.objects.filter(run=run).select_related("task").order_by("started_at", "id"))
    acts = list(OperatorAction.objects.filter(run=run).order_by("at", "id"))
    t0 = min([run.created_at, *(a.started_at for a in attempts)])
    ends = [a.finished_at or now for a in attempts] + [run.finished_at or (now if attempts else run.created_at)]
    ends += [act.at for act in acts]
    span = max((max(ends) - t0).total_seconds(), 0.001)
    plot = TIMELINE_WIDTH - TIMELINE_LABEL - 10
    rows, bars = [], []
    for index, step in enumerate(order):
        task = tasks.get(step)
        y = 24 + index * ROW
        rows.append({"y": y, "text_y": y + 14, "step": step, "status": task.status if task else "-"})
        for a in (a for a in attempts if a.task.step == step):
            start = (a.started_at - t0).total_seconds()
            end = ((a.finished_at or now) - t0).total_seconds()
            bars.append(
                {
                    "x": TIMELINE_LABEL + plot * start / span,
                    "y": y + 3,
                    "w": max(plot * (end - start) / span, 3),
                    "outcome": a.outcome,
                    "title": f"{step} · attempt {a.attempt} · {a.get_outcome_display()} · "
                    f"{a.duration_ms or 0:.0f} ms" + (f"\n{a.error_type}: {a.error}" if a.error else ""),
                }
            )
    # The last tick's label ends at its line: centred, it would run off the drawing.
    ticks = [
        {
            "x": TIMELINE_LABEL + plot * i / 4,
            "label": "+" + _duration(span * i / 4),
            "anchor": "end" if i == 4 else "middle",
        }
        for i in range(5)
    ]
    axis_y = 24 + ROW * len(order)
    marks = [
        {
            "x": TIMELINE_LABEL + plot * (act.at - t0).total_seconds() / span,
            "label": act.get_verb_display(),
            "title": f"{act.get_verb_display()} by {act.actor_label} at {act.at:%Y-%m-%d %H:%M:%S} UTC",
            "anchor": "end" if (act.at - t0).total_seconds() > span * 0.8 else "start",
        }
        for act in acts
    ]
    context = {
        "run": run,
        "rows": rows,
        "bars": bars,
        "ticks": ticks,
        "marks": marks,
        "acts": acts,
        "width": TIMELINE_WIDTH,
        "height": 34 + ROW * max(len(order), 1) + (18 if marks else 0),
        "axis_y": axis_y,
        "mark_label_y": axis_y + 16,
        "label_x": TIMELINE_LABEL,
        "errors": collapse(attempts, step_of=lambda a: a.task.step),
        "retries": next_retries(tasks.values(), now=now),
        "outcomes": [o for o in AttemptOutcome if o in {a.outcome for a in attempts}],
        "started": t0,
    }
    return SafeString(render_to_string("admin/orchestration/timeline.html", context))


def next_retries(tasks: Iterable[Task], *, now: datetime) -> list[dict[str, Any]]:
    """Steps waiting for their next try after a failed attempt: when, as a countdown."""
    waiting = [t for t in tasks if t.status == TaskStatus.QUEUED and t.attempt > 0 and t.run_after > now]
    return [
        {
            "step": t.step or t.action,
            # Counted within the current set: a replay or a retry numbers attempts on from the last one.
            "attempt": t.attempts_spent + 1,
            "max_attempts": t.max_attempts,
            "at": t.run_after,
            "countdown": countdown((t.run_after - now).total_seconds()),
        }
        for t in sorted(waiting, key=lambda t: t.run_after)
    ]


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
