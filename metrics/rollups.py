"""Rollups: the figures of each 5-minute window, kept after the raw rows are pruned.

`rollup(now=...)` rolls up the last *complete* window before `now`, so running it
twice (Vercel delivers crons more than once) or concurrently writes the same
figures into the same row: the window is unique and the row is upserted. It also
prunes raw agent runs past METRICS_RETENTION_DAYS and checks the alert thresholds.
The cron route `GET /api/system/metrics` and `manage.py rollup_metrics` call it.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min, Q

from metrics.alerts import check_alerts
from metrics.models import Rollup
from orchestration import clock
from orchestration.models import (
    TERMINAL_TASK_STATUSES,
    AgentRun,
    AttemptOutcome,
    RunStatus,
    Task,
    TaskStatus,
    WorkflowRun,
)
from orders.models import Project, ProjectStatus

logger = logging.getLogger("metrics")

WINDOW = timedelta(minutes=5)
# Outcomes that end an attempt, and those of them that count as errors (E5). Continued,
# released, cancelled and stale rows are invocations or bookkeeping, not attempts that ended.
ENDED_OUTCOMES = (AttemptOutcome.SUCCEEDED, AttemptOutcome.RETRY, AttemptOutcome.FAILED, AttemptOutcome.TIMED_OUT)
ERROR_OUTCOMES = (AttemptOutcome.RETRY, AttemptOutcome.FAILED, AttemptOutcome.TIMED_OUT)
# Upper bounds (ms) of the duration histogram kept per action; the last bucket is +Inf.
# Percentiles over hours or weeks are merged from these, since the raw rows may be gone.
BUCKET_BOUNDS_MS: tuple[float, ...] = (50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000)
PRUNE_BATCH = 5_000
_UNFINISHED_ORDER = (ProjectStatus.PAID, ProjectStatus.IN_PROGRESS)


def window_of(moment: datetime) -> tuple[datetime, datetime]:
    """The 5-minute window [start, end) that contains `moment`."""
    start = moment.replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    return start, start + WINDOW


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least q % of the values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def histogram(durations_ms: Iterable[float]) -> list[int]:
    counts = [0] * (len(BUCKET_BOUNDS_MS) + 1)
    for value in durations_ms:
        counts[bisect.bisect_left(BUCKET_BOUNDS_MS, value)] += 1
    return counts


def histogram_quantile(q: float, counts: Sequence[int]) -> float | None:
    """A percentile estimated from bucket counts, interpolating inside the bucket (as Prometheus does)."""
    total = sum(counts)
    if not total:
        return None
    rank = q / 100 * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index == len(BUCKET_BOUNDS_MS):  # the +Inf bucket: the best we can say is its lower bound
                return BUCKET_BOUNDS_MS[-1]
            lower = BUCKET_BOUNDS_MS[index - 1] if index else 0.0
            upper = BUCKET_BOUNDS_MS[index]
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return BUCKET_BOUNDS_MS[-1]


def attempt_figures(start: datetime, end: datetime) -> dict[str, Any]:
    """Attempts that ended in [start, end): counts by outcome and, per action, errors and durations."""
    rows = AgentRun.objects.filter(finished_at__gte=start, finished_at__lt=end, outcome__in=ENDED_OUTCOMES)
    by_outcome: Counter[str] = Counter()
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    durations: dict[str, list[float]] = defaultdict(list)
    for action, outcome, duration_ms in rows.values_list("action", "outcome", "duration_ms").iterator():
        by_outcome[outcome] += 1
        outcomes[action][outcome] += 1
        if duration_ms is not None:
            durations[action].append(duration_ms)
    by_action = {}
    for action in sorted(outcomes):
        values = sorted(durations[action])
        by_action[action] = {
            "count": sum(outcomes[action].values()),
            "errors": sum(outcomes[action][o] for o in ERROR_OUTCOMES),
            "outcomes": dict(outcomes[action]),
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "p99": percentile(values, 99),
            "buckets": histogram(values),
        }
    attempts = sum(by_outcome.values())
    failed = sum(by_outcome[o] for o in ERROR_OUTCOMES)
    return {
        "attempts": attempts,
        "attempts_failed": failed,
        "error_rate": failed / attempts if attempts else 0.0,
        "by_outcome": dict(by_outcome),
        "by_action": by_action,
    }


def run_figures(start: datetime, end: datetime) -> dict[str, Any]:
    """Workflow runs that finished in [start, end), and how long the successful ones took."""
    finished = list(
        WorkflowRun.objects.filter(finished_at__gte=start, finished_at__lt=end).values_list(
            "status", "created_at", "finished_at"
        )
    )
    seconds = sorted((f - c).total_seconds() for s, c, f in finished if s == RunStatus.SUCCEEDED)
    return {
        "runs_finished": len(finished),
        "runs_succeeded": len(seconds),
        "run_p50_seconds": percentile(seconds, 50),
        "run_p95_seconds": percentile(seconds, 95),
    }


def order_figures(start: datetime, end: datetime, *, now: datetime) -> dict[str, int]:
    """Orders delivered in [start, end), how many within the SLO, and how many are late now."""
    slo = timedelta(seconds=settings.ORDER_SLO_SECONDS)
    delivered = Project.objects.filter(delivered_at__gte=start, delivered_at__lt=end, paid_at__isnull=False)
    spans = [d - p for p, d in delivered.values_list("paid_at", "delivered_at")]
    return {
        "orders_delivered": len(spans),
        "orders_within_slo": sum(span <= slo for span in spans),
        "orders_late": late_orders(now=now).count(),
    }


def late_orders(*, now: datetime) -> Any:
    """Paid orders not delivered yet whose 25 minutes have run out."""
    slo = timedelta(seconds=settings.ORDER_SLO_SECONDS)
    return Project.objects.filter(status__in=_UNFINISHED_ORDER, paid_at__lt=now - slo)


def queue_gauges(*, now: datetime) -> dict[str, Any]:
    """Tasks by status, the due queue's depth and the age of its oldest task, at `now`."""
    by_status = dict(Task.objects.values_list("status").annotate(n=Count("id")).order_by())
    due = Task.objects.filter(status=TaskStatus.QUEUED, run_after__lte=now).aggregate(
        n=Count("id"), oldest=Min("run_after")
    )
    oldest = due["oldest"]
    return {
        "task_status": {status: by_status.get(status, 0) for status in TaskStatus.values},
        "queue_depth": due["n"],
        "oldest_waiting_seconds": max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
    }


def database_connections() -> int | None:
    """Connections open on this database (Postgres' pg_stat_activity); None where unknown (SQLite)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def prune_agent_runs(*, now: datetime, limit: int = PRUNE_BATCH) -> int:
    """Delete raw attempt rows older than the retention, only finished ones of finished runs or tasks."""
    cutoff = now - timedelta(days=settings.METRICS_RETENTION_DAYS)
    finished_owner = Q(run__isnull=False) & ~Q(run__status=RunStatus.RUNNING) | Q(
        run__isnull=True, task__status__in=TERMINAL_TASK_STATUSES
    )
    ids = list(
        AgentRun.objects.filter(finished_owner, finished_at__lt=cutoff)
        .exclude(outcome=AttemptOutcome.RUNNING)
        .values_list("id", flat=True)[:limit]
    )
    if not ids:
        return 0
    deleted, _ = AgentRun.objects.filter(id__in=ids).delete()
    return deleted


def rollup(*, now: datetime | None = None) -> Rollup:
    """Roll up the last complete window before `now` (upserted), prune, then check the alerts."""
    now = now or clock.now()
    end, _ = window_of(now)
    start = end - WINDOW
    figures: dict[str, Any] = {
        **attempt_figures(start, end),
        **run_figures(start, end),
        **order_figures(start, end, now=now),
        **queue_gauges(now=now),
        "db_connections": database_connections(),
        "pruned_agent_runs": prune_agent_runs(now=now),
    }
    row = Rollup(window_start=start, window_end=end, computed_at=now, **figures)
    with transaction.atomic():
        # INSERT ... ON CONFLICT (window_start) DO UPDATE: two concurrent rollups of one window
        # both succeed and the row ends with the figures of the later one.
        Rollup.objects.bulk_create(
            [row], update_conflicts=True, unique_fields=["window_start"], update_fields=[*figures, "computed_at"]
        )
    row = Rollup.objects.get(window_start=start)
    check_alerts(row, now=now)
    logger.info(
        "metrics rolled up",
        extra={"action": "rollup", "window_start": start.isoformat(), "attempts": row.attempts},
    )
    return row


def merge_rollups(rows: Sequence[Rollup]) -> dict[str, Any]:
    """Figures for a longer period from its windows: sums, and percentiles from merged histograms."""
    attempts = sum(r.attempts for r in rows)
    failed = sum(r.attempts_failed for r in rows)
    delivered = sum(r.orders_delivered for r in rows)
    within = sum(r.orders_within_slo for r in rows)
    actions: dict[str, dict[str, Any]] = {}
    for r in rows:
        for action, fig in (r.by_action or {}).items():
            merged = actions.setdefault(action, {"count": 0, "errors": 0, "buckets": [0] * (len(BUCKET_BOUNDS_MS) + 1)})
            merged["count"] += fig.get("count", 0)
            merged["errors"] += fig.get("errors", 0)
            for i, n in enumerate(fig.get("buckets", [])[: len(merged["buckets"])]):
                merged["buckets"][i] += n
    for merged in actions.values():
        for q in (50, 95, 99):
            merged[f"p{q}"] = histogram_quantile(q, merged["buckets"])
    return {
        "windows": len(rows),
        "attempts": attempts,
        "attempts_failed": failed,
        "error_rate": failed / attempts if attempts else 0.0,
        "orders_delivered": delivered,
        "orders_within_slo": within,
        "within_slo_share": within / delivered if delivered else None,
        "runs_finished": sum(r.runs_finished for r in rows),
        "by_action": dict(sorted(actions.items())),
    }
