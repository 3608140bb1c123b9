"""The Prometheus endpoint and the staff dashboard (mounted in the admin by metrics/admin.py)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from core.signing import constant_time_equal
from metrics.attention import needs_attention
from metrics.charts import bar_rows, line_chart
from metrics.models import ErrorGroup, GroupStatus, Rollup
from metrics.prometheus import exposition
from metrics.rollups import WINDOW, live_rollups, merge_rollups, queue_gauges
from orchestration import clock

PERIODS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}
# Points per chart: a week of 5-minute windows is merged into hours so the SVG stays small.
STEP_OF_PERIOD = {"hour": WINDOW, "day": WINDOW * 3, "week": timedelta(hours=1)}
REFRESH_SECONDS = 60


def _error(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message, "detail": {}}}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def metrics_allowed(request: HttpRequest) -> JsonResponse | None:
    """None if the caller may scrape; else the 401/403 answer.

    A bearer token equal to METRICS_TOKEN (compared in constant time), or a staff session.
    With METRICS_TOKEN empty, only a staff session gets in.
    """
    header = request.headers.get("Authorization", "")
    user = getattr(request, "user", None)
    if header:
        scheme, _, token = header.partition(" ")
        expected = settings.METRICS_TOKEN
        if scheme.lower() != "bearer" or not token:
            return _error(401, "unauthorized", "Use 'Authorization: Bearer <METRICS_TOKEN>'.")
        if expected and constant_time_equal(token.strip(), expected):
            return None
        return _error(403, "forbidden", "This token does not open /metrics.")
    if user is not None and user.is_authenticated:
        return None if user.is_active and user.is_staff else _error(403, "forbidden", "Staff only.")
    return _error(401, "unauthorized", "Use 'Authorization: Bearer <METRICS_TOKEN>' or a staff session.")


@require_GET
@never_cache
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    refusal = metrics_allowed(request)
    if refusal is not None:
        return refusal
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def _floor(moment: datetime, step: timedelta) -> datetime:
    """`moment` rounded down to a multiple of `step` since the epoch (buckets line up with windows)."""
    epoch = datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return moment - (moment - epoch) % step


def _series(rows: list[Rollup], start: datetime, end: datetime, step: timedelta) -> list[dict[str, Any]]:
    """Windows merged into buckets of `step`: sums for flows, maxima for gauges; None for no data.

    A bucket is `live` when one of its windows was computed now rather than stored
    (pk None): the window under way, or one the cron has not rolled up yet.
    """
    inside: dict[datetime, list[Rollup]] = defaultdict(list)
    for row in rows:
        inside[_floor(row.window_start, step)].append(row)
    buckets: list[dict[str, Any]] = []
    at = start
    while at < end:
        group = inside.get(at, [])
        attempts = sum(r.attempts for r in group)
        delivered = sum(r.orders_delivered for r in group)
        measured = [r for r in group if r.gauges_measured]
        buckets.append(
            {
                "at": at,
                "live": any(r.pk is None for r in group),
                "attempts": attempts if group else None,
                "error_rate": (sum(r.attempts_failed for r in group) / attempts if attempts else 0.0)
                if group
                else None,
                "queue_depth": max((r.queue_depth for r in measured), default=None),
                "oldest_waiting": max((r.oldest_waiting_seconds for r in measured), default=None),
                "within_slo": sum(r.orders_within_slo for r in group) / delivered if delivered else None,
            }
        )
        at += step
    return buckets


def _ms(value: float | None) -> str:
    """A duration in ms as the table shows it: whole ms when whole, else to 0.1 ms."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _agent_rows(by_key: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "count": fig["count"],
            "errors": fig["errors"],
            **{f"p{q}": _ms(fig[f"p{q}"]) for q in (50, 95, 99)},
        }
        for name, fig in by_key.items()
    ]


def dashboard_context(period: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard shows for the last hour, day or week: the stored rollups,
    plus the windows computed live from raw rows (the one under way, and any the cron
    has not rolled up yet), marked as such."""
    now = now or clock.now()
    span, step = PERIODS[period], STEP_OF_PERIOD[period]
    start = _floor(now - span, step)
    stored = list(Rollup.objects.filter(window_start__gte=start, window_start__lt=now))
    live = [r for r in live_rollups(now=now) if r.window_start >= start]
    rows = [*stored, *live]
    summary = merge_rollups(rows)
    chart_start, chart_step = _chart_span(rows, start=start, step=step, now=now)
    series = _series(rows, chart_start, now, chart_step)
    live_from = next((b["at"] for b in series if b["live"]), None)
    slo_minutes = settings.ORDER_SLO_SECONDS // 60
    charts = [
        line_chart([(b["at"], b["attempts"]) for b in series], title="Agent calls finished", live_from=live_from),
        line_chart(
            [(b["at"], b["error_rate"]) for b in series],
            title="Share of calls that failed",
            percent=True,
            threshold=settings.METRICS_ALERT_ERROR_RATE,
            live_from=live_from,
        ),
        line_chart([(b["at"], b["queue_depth"]) for b in series], title="Steps waiting to run", live_from=live_from),
        line_chart(
            [(b["at"], b["oldest_waiting"]) for b in series],
            title="Longest wait of a step",
            unit="s",
            threshold=settings.METRICS_ALERT_OLDEST_WAITING_SECONDS,
            live_from=live_from,
        ),
        line_chart(
            [(b["at"], b["within_slo"]) for b in series],
            title=f"Orders delivered within {slo_minutes} min",
            percent=True,
            top=1.0,
            live_from=live_from,
        ),
        bar_rows(
            [(agent, fig["p50"], fig["p95"]) for agent, fig in summary["by_agent"].items()],
            title="Time per agent call (typical inside slow)",
        ),
        bar_rows(
            [(action, fig["p50"], fig["p95"]) for action, fig in summary["by_action"].items()],
            title="Time per agent action (typical inside slow)",
        ),
    ]
    partial = live[-1] if live else None
    attention = needs_attention(now=now)
    return {
        "period": period,
        "periods": list(PERIODS),
        "summary": summary,
        "stored_windows": len(stored),
        "live_windows": len(live),
        "partial": partial,
        "error_rate_text": f"{summary['error_rate']:.2%}",
        "within_slo_text": "-"
        if summary["within_slo_share"] is None
        else f"{summary['within_slo_share']:.0%} ({summary['orders_within_slo']}/{summary['orders_delivered']})",
        "run_p50_text": _seconds(summary["run_p50_seconds"]),
        "run_p95_text": _seconds(summary["run_p95_seconds"]),
        "now_gauges": queue_gauges(now=now),
        "charts": charts,
        "agent_rows": _agent_rows(summary["by_agent"]),
        "action_rows": _agent_rows(summary["by_action"]),
        "late_orders": attention.late,
        "failed_orders": attention.failed,
        "attention": attention,
        "recent_errors": list(
            ErrorGroup.objects.filter(last_seen__gte=start, status=GroupStatus.OPEN).order_by("-last_seen")[:10]
        ),
        "period_start": start,
        "chart_start": chart_start,
        "charts_trimmed": chart_start > start,
        "refresh_seconds": REFRESH_SECONDS,
        "slo_minutes": slo_minutes,
    }


MIN_POINTS = 12  # a chart never has fewer buckets than this: one window of data is a short line, not a dot


def _chart_span(rows: list[Rollup], *, start: datetime, step: timedelta, now: datetime) -> tuple[datetime, timedelta]:
    """Where the charts start, and their bucket size: the whole period, unless its data starts
    later (a fresh install, a quiet week); then from the first data, in buckets sized for that
    span. An hour of data in the week view fills the chart instead of a sliver at its right edge."""
    first = min((r.window_start for r in rows), default=None)
    if first is None or first <= start:
        return start, step
    covered = now - first
    chart_step = next((STEP_OF_PERIOD[name] for name, span in PERIODS.items() if covered <= span), step)
    chart_start = min(_floor(first, chart_step), _floor(now - chart_step * MIN_POINTS, chart_step))
    return max(chart_start, _floor(start, chart_step)), chart_step


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def dashboard(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
    """The staff dashboard; wrap it in `admin_site.admin_view` (staff only)."""
    period = request.GET.get("period", "hour")
    if period not in PERIODS:
        period = "hour"
    from metrics.site import visible_to  # the admin site imports this module's neighbours

    context = {**(extra_context or {}), **dashboard_context(period), "title": "Dashboard"}
    attention = visible_to(request.user, context["attention"])
    context.update(attention=attention, late_orders=attention.late, failed_orders=attention.failed)
    return TemplateResponse(request, "admin/metrics/dashboard.html", context)
