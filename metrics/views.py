"""The Prometheus endpoint and the staff dashboard (mounted in the admin by metrics/admin.py)."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from metrics.charts import bar_rows, line_chart
from metrics.models import ErrorGroup, Rollup
from metrics.prometheus import exposition
from metrics.rollups import WINDOW, late_orders, merge_rollups, queue_gauges
from orchestration import clock
from orders.models import Project, ProjectStatus

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
        if expected and hmac.compare_digest(token.strip().encode(), expected.encode()):
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


def _series(rows: list[Rollup], start: datetime, end: datetime, step: timedelta) -> list[dict[str, Any]]:
    """Windows merged into buckets of `step`: sums for flows, maxima for gauges; None for no data."""
    buckets: list[dict[str, Any]] = []
    at = start
    index = 0
    ordered = sorted(rows, key=lambda r: r.window_start)
    while at < end:
        inside = []
        while index < len(ordered) and ordered[index].window_start < at + step:
            if ordered[index].window_start >= at:
                inside.append(ordered[index])
            index += 1
        attempts = sum(r.attempts for r in inside)
        buckets.append(
            {
                "at": at,
                "attempts": attempts if inside else None,
                "error_rate": (sum(r.attempts_failed for r in inside) / attempts if attempts else 0.0)
                if inside
                else None,
                "queue_depth": max((r.queue_depth for r in inside), default=None),
                "oldest_waiting": max((r.oldest_waiting_seconds for r in inside), default=None),
            }
        )
        at += step
    return buckets


def dashboard_context(period: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard shows for the last hour, day or week."""
    now = now or clock.now()
    span, step = PERIODS[period], STEP_OF_PERIOD[period]
    start = now - span
    rows = list(Rollup.objects.filter(window_start__gte=start, window_start__lt=now))
    summary = merge_rollups(rows)
    series = _series(rows, start.replace(second=0, microsecond=0), now, step)
    per_action = [(action, fig["p50"], fig["p95"]) for action, fig in summary["by_action"].items()]
    charts = [
        line_chart([(b["at"], b["attempts"]) for b in series], title="Throughput (attempts)"),
        line_chart(
            [(b["at"], b["error_rate"]) for b in series],
            title="Error rate",
            percent=True,
            threshold=settings.METRICS_ALERT_ERROR_RATE,
        ),
        line_chart([(b["at"], b["queue_depth"]) for b in series], title="Queue depth (due tasks)"),
        line_chart(
            [(b["at"], b["oldest_waiting"]) for b in series],
            title="Oldest waiting task",
            unit="s",
            threshold=settings.METRICS_ALERT_OLDEST_WAITING_SECONDS,
        ),
        bar_rows(per_action, title="Attempt duration per agent action (p50 inside p95)"),
    ]
    return {
        "period": period,
        "periods": list(PERIODS),
        "summary": summary,
        "error_rate_text": f"{summary['error_rate']:.2%}",
        "now_gauges": queue_gauges(now=now),
        "charts": charts,
        "late_orders": list(late_orders(now=now).order_by("paid_at")[:50]),
        "failed_orders": list(Project.objects.filter(status=ProjectStatus.FAILED).order_by("-updated_at")[:50]),
        "recent_errors": list(ErrorGroup.objects.filter(last_seen__gte=start).order_by("-last_seen")[:10]),
        "refresh_seconds": REFRESH_SECONDS,
        "slo_minutes": settings.ORDER_SLO_SECONDS // 60,
    }


def dashboard(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
    """The staff dashboard; wrap it in `admin_site.admin_view` (staff only)."""
    period = request.GET.get("period", "hour")
    if period not in PERIODS:
        period = "hour"
    context = {**(extra_context or {}), **dashboard_context(period), "title": "Dashboard"}
    return TemplateResponse(request, "admin/metrics/dashboard.html", context)
