"""Rollups: the figures of each 5-minute window, kept after the raw rows are pruned.

`rollup(now=...)` rolls up the last *complete* window before `now` and, in the same
call, every complete window of the last CATCH_UP that has no row yet (a missed or
failed cron leaves no hole). Each window is upserted, so running it twice (Vercel
delivers crons more than once) or concurrently writes the same figures into the
same row. It also prunes raw agent runs past METRICS_RETENTION_DAYS and checks the
alert thresholds. The cron route `GET /api/system/metrics` and `manage.py
rollup_metrics` call it.

`live_rollups(now=...)` computes the same figures, unsaved, for what has no row yet:
the current partial window and any complete window the cron has not rolled up. The
dashboard and /metrics show them beside the stored rows, so an order placed a
minute ago is on the dashboard a minute later.

Durations are kept per window as a distribution of values rounded to three
significant digits (`{"123": 4}`): distributions merge by addition, so the
percentiles of an hour or a week are exact to 0.5 % (to the millisecond below one
second), never an artefact of coarse histogram buckets (metrics/distributions.py).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min, Q, QuerySet

from metrics.alerts import check_alerts, mail_error_digest
from metrics.distributions import distribution, distribution_percentile, histogram, merge_distributions, percentile
from metrics.distributions import histogram_quantile as histogram_quantile  # still importable from here
from metrics.distributions import significant as significant  # still importable from here
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
# How far back a rollup fills in windows that have no row: a day of missed crons is
# repaired by the next one; anything older needs `rollup_metrics --since`.
CATCH_UP = timedelta(hours=24)
# `--since` recomputes windows from raw rows read in slices of this size (bounded memory).
RECOMPUTE_SLICE = timedelta(hours=6)
# Outcomes that end an attempt, and those of them that count as errors. Continued,
# released, cancelled and stale rows are invocations or bookkeeping, not attempts that ended.
ENDED_OUTCOMES = (AttemptOutcome.SUCCEEDED, AttemptOutcome.RETRY, AttemptOutcome.FAILED, AttemptOutcome.TIMED_OUT)
ERROR_OUTCOMES = (AttemptOutcome.RETRY, AttemptOutcome.FAILED, AttemptOutcome.TIMED_OUT)
PRUNE_BATCH = 5_000
_UNFINISHED_ORDER = (ProjectStatus.PAID, ProjectStatus.IN_PROGRESS)

# What a window counts (recomputable from raw rows), and what a rollup measured at its time.
FLOW_FIELDS = (
    "attempts",
    "attempts_failed",
    "error_rate",
    "by_outcome",
    "by_action",
    "runs_finished",
    "runs_succeeded",
    "run_p50_seconds",
    "run_p95_seconds",
    "run_durations",
    "orders_delivered",
    "orders_within_slo",
)
GAUGE_FIELDS = ("task_status", "queue_depth", "oldest_waiting_seconds", "orders_late", "db_connections")


def window_of(moment: datetime) -> tuple[datetime, datetime]:
    """The 5-minute window [start, end) that contains `moment`."""
    start = moment.replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    return start, start + WINDOW


def agent_of(action: str) -> str:
    """'design-ia.generate' -> 'design-ia': the agent an action belongs to."""
    return action.split(".", 1)[0]


# --- Figures of windows, from raw rows ------------------------------------------------------


def _empty_flows() -> dict[str, Any]:
    return {
        "attempts": 0,
        "attempts_failed": 0,
        "error_rate": 0.0,
        "by_outcome": {},
        "by_action": {},
        "runs_finished": 0,
        "runs_succeeded": 0,
        "run_p50_seconds": None,
        "run_p95_seconds": None,
        "run_durations": {},
        "orders_delivered": 0,
        "orders_within_slo": 0,
    }


def _window_starts(start: datetime, end: datetime) -> list[datetime]:
    """Starts of the windows that begin in [start, end); `start` is a window's start."""
    starts, at = [], start
    while at < end:
        starts.append(at)
        at += WINDOW
    return starts


def flows(start: datetime, end: datetime) -> dict[datetime, dict[str, Any]]:
    """The flow figures of every window in [start, end), both window boundaries.

    One query per table for the whole span, bucketed here: catching up a day costs
    three queries, not three per window.
    """
    starts = _window_starts(start, end)
    durations: dict[datetime, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    outcomes: dict[datetime, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    attempts = AgentRun.objects.filter(finished_at__gte=start, finished_at__lt=end, outcome__in=ENDED_OUTCOMES)
    for finished, action, outcome, duration_ms in attempts.values_list(
        "finished_at", "action", "outcome", "duration_ms"
    ).iterator():
        at = window_of(finished)[0]
        outcomes[at][action][outcome] += 1
        if duration_ms is not None:
            durations[at][action].append(duration_ms)

    run_seconds: dict[datetime, list[float]] = defaultdict(list)
    runs_finished: Counter[datetime] = Counter()
    finished_runs = WorkflowRun.objects.filter(finished_at__gte=start, finished_at__lt=end)
    for status, created, finished in finished_runs.values_list("status", "created_at", "finished_at").iterator():
        at = window_of(finished)[0]
        runs_finished[at] += 1
        if status == RunStatus.SUCCEEDED:
            run_seconds[at].append((finished - created).total_seconds())

    slo = timedelta(seconds=settings.ORDER_SLO_SECONDS)
    delivered: Counter[datetime] = Counter()
    within: Counter[datetime] = Counter()
    orders = Project.objects.filter(delivered_at__gte=start, delivered_at__lt=end, paid_at__isnull=False)
    for paid, done in orders.values_list("paid_at", "delivered_at").iterator():
        at = window_of(done)[0]
        delivered[at] += 1
        within[at] += done - paid <= slo

    figures: dict[datetime, dict[str, Any]] = {}
    for at in starts:
        fig = _empty_flows()
        by_outcome: Counter[str] = Counter()
        for action in sorted(outcomes[at]):
            counts = outcomes[at][action]
            by_outcome.update(counts)
            values = sorted(durations[at][action])
            fig["by_action"][action] = {
                "count": sum(counts.values()),
                "errors": sum(counts[o] for o in ERROR_OUTCOMES),
                "outcomes": dict(counts),
                "p50": percentile(values, 50),
                "p95": percentile(values, 95),
                "p99": percentile(values, 99),
                "buckets": histogram(values),
                "durations": distribution(values),
            }
        fig["attempts"] = sum(by_outcome.values())
        fig["attempts_failed"] = sum(by_outcome[o] for o in ERROR_OUTCOMES)
        fig["error_rate"] = fig["attempts_failed"] / fig["attempts"] if fig["attempts"] else 0.0
        fig["by_outcome"] = dict(by_outcome)
        seconds = sorted(run_seconds[at])
        fig["runs_finished"] = runs_finished[at]
        fig["runs_succeeded"] = len(seconds)
        fig["run_p50_seconds"] = percentile(seconds, 50)
        fig["run_p95_seconds"] = percentile(seconds, 95)
        fig["run_durations"] = distribution(seconds)
        fig["orders_delivered"] = delivered[at]
        fig["orders_within_slo"] = within[at]
        figures[at] = fig
    return figures


def late_orders(*, now: datetime) -> QuerySet[Project]:
    """Paid orders not delivered yet (nor failed or cancelled) whose 25 minutes have run out."""
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


def gauges(*, now: datetime) -> dict[str, Any]:
    """Every snapshot a rollup takes: the queue, late orders, database connections."""
    return {
        **queue_gauges(now=now),
        "orders_late": late_orders(now=now).count(),
        "db_connections": database_connections(),
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


# --- Which windows to roll up ------------------------------------------------------------------


def missing_windows(*, now: datetime) -> list[datetime]:
    """Complete windows of the last CATCH_UP that have no row, oldest first.

    Not before the first sign of activity (an attempt, or a stored row) in that span
    unless rollups are older than the span: a fresh install does not get a day of empty
    rows for the time before it ran, a live one gets zeros for its quiet windows.
    """
    current = window_of(now)[0]
    lower = current - CATCH_UP
    stored = set(
        Rollup.objects.filter(window_start__gte=lower, window_start__lt=current).values_list("window_start", flat=True)
    )
    if len(stored) == CATCH_UP // WINDOW:
        return []
    if Rollup.objects.filter(window_start__lt=lower).exists():  # running for longer: fill the whole span
        firsts = [lower]
    else:
        first_attempt = AgentRun.objects.filter(started_at__gte=lower).aggregate(at=Min("started_at"))["at"]
        firsts = [window_of(first_attempt)[0]] if first_attempt else []
        firsts += [min(stored)] if stored else []
    if not firsts:
        return []
    return [at for at in _window_starts(max(lower, min(firsts)), current) if at not in stored]


def _spans(starts: Sequence[datetime], *, longest: timedelta = CATCH_UP) -> list[tuple[datetime, datetime]]:
    """Consecutive windows joined into [start, end) spans (one query each), at most `longest` long."""
    spans: list[tuple[datetime, datetime]] = []
    for at in sorted(starts):
        if spans and spans[-1][1] == at and at + WINDOW - spans[-1][0] <= longest:
            spans[-1] = (spans[-1][0], at + WINDOW)
        else:
            spans.append((at, at + WINDOW))
    return spans


def _rows(starts: Sequence[datetime], *, now: datetime, longest: timedelta = CATCH_UP) -> list[Rollup]:
    rows = []
    for start, end in _spans(starts, longest=longest):
        for at, figures in flows(start, end).items():
            rows.append(Rollup(window_start=at, window_end=at + WINDOW, computed_at=now, **figures))
    return rows


def _upsert(rows: Sequence[Rollup], fields: Sequence[str]) -> None:
    # INSERT ... ON CONFLICT (window_start) DO UPDATE: two concurrent rollups of one window
    # both succeed and the row ends with the figures of the later one. Only `fields` are
    # overwritten, so a window filled in late never erases gauges measured at its time.
    Rollup.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["window_start"], update_fields=[*fields, "computed_at"]
    )


def rollup_windows(*, now: datetime | None = None, since: datetime | None = None) -> list[Rollup]:
    """Roll up the last complete window (with the gauges measured now) and every complete
    window of the last CATCH_UP that has no row; with `since`, recompute every window
    from then on as well. Prune, check the alerts of the latest window; return the rows
    written, oldest first (the last one is the latest window)."""
    now = now or clock.now()
    current = window_of(now)[0]
    latest = current - WINDOW
    if since is not None:
        oldest_raw = now - timedelta(days=settings.METRICS_RETENTION_DAYS)
        if since < oldest_raw:
            raise ValueError(
                f"since={since.isoformat()} is older than the raw rows kept "
                f"(METRICS_RETENTION_DAYS={settings.METRICS_RETENTION_DAYS}): recomputing would erase figures"
            )
        if since > latest:
            raise ValueError(f"since={since.isoformat()} is after the last complete window ({latest.isoformat()})")
    earlier = set(missing_windows(now=now))
    if since is not None:
        earlier |= set(_window_starts(window_of(since)[0], latest))
    earlier.discard(latest)
    backfill = _rows(sorted(earlier), now=now, longest=RECOMPUTE_SLICE)
    (row,) = _rows([latest], now=now)
    for name, value in gauges(now=now).items():
        setattr(row, name, value)
    row.pruned_agent_runs = prune_agent_runs(now=now)
    with transaction.atomic():
        if backfill:
            _upsert(backfill, FLOW_FIELDS)
        _upsert([row], [*FLOW_FIELDS, *GAUGE_FIELDS, "pruned_agent_runs"])
    # A range, not `window_start IN (...)`: a month recomputed is 8,640 windows, past SQLite's
    # limit on query parameters.
    starts = {r.window_start for r in [*backfill, row]}
    stored = Rollup.objects.filter(window_start__gte=min(starts), window_start__lte=latest).order_by("window_start")
    written = [r for r in stored if r.window_start in starts]
    latest_row = written[-1]
    check_alerts(latest_row, now=now)
    mail_error_digest(now=now)  # unhandled exceptions: one email per group and window, from the cron
    logger.info(
        "metrics rolled up",
        extra={
            "action": "rollup",
            "window_start": latest.isoformat(),
            "attempts": latest_row.attempts,
            "caught_up": len(backfill),
        },
    )
    return written


def rollup(*, now: datetime | None = None) -> Rollup:
    """Roll up (and catch up) as `rollup_windows` does; return the latest window's row."""
    return rollup_windows(now=now)[-1]


def _partial(current: datetime, now: datetime, figures: dict[str, Any]) -> Rollup:
    """The window under way as an unsaved row: its flows so far, the gauges now."""
    partial = Rollup(window_start=current, window_end=now, computed_at=now, **figures)
    for name, value in gauges(now=now).items():
        setattr(partial, name, value)
    return partial


def live_rollups(*, now: datetime | None = None) -> list[Rollup]:
    """Unsaved rows for what the cron has not rolled up yet: complete windows of the last
    CATCH_UP with no row, then the current partial window (up to `now`, with gauges now)."""
    now = now or clock.now()
    current = window_of(now)[0]
    rows = _rows(missing_windows(now=now), now=now)
    # Counted to the window's end, not to `now`: what finished at `now` itself is in, and
    # nothing can have finished later.
    return [*rows, _partial(current, now, flows(current, current + WINDOW)[current])]


def latest_windows(*, now: datetime | None = None) -> tuple[Rollup, Rollup]:
    """The last complete window (its stored row, else computed from raw rows: `pk` None)
    and the current partial window, computed up to `now`; two windows, one query per table."""
    now = now or clock.now()
    current = window_of(now)[0]
    latest = current - WINDOW
    computed = flows(latest, current + WINDOW)
    stored = Rollup.objects.filter(window_start=latest).first()
    complete = stored or Rollup(window_start=latest, window_end=current, computed_at=now, **computed[latest])
    return complete, _partial(current, now, computed[current])


# --- Figures of a longer period -------------------------------------------------------------


def _quantiles(dist: Mapping[str, int]) -> dict[str, float | None]:
    return {f"p{q}": distribution_percentile(dist, q) for q in (50, 95, 99)}


def merge_rollups(rows: Sequence[Rollup]) -> dict[str, Any]:
    """Figures for a longer period from its windows: sums, and exact percentiles from the
    merged distributions, per action, per agent and for whole workflow runs."""
    attempts = sum(r.attempts for r in rows)
    failed = sum(r.attempts_failed for r in rows)
    delivered = sum(r.orders_delivered for r in rows)
    within = sum(r.orders_within_slo for r in rows)
    actions: dict[str, dict[str, Any]] = {}
    agents: dict[str, dict[str, Any]] = {}
    for r in rows:
        for action, fig in (r.by_action or {}).items():
            for key, table in ((action, actions), (agent_of(action), agents)):
                merged = table.setdefault(key, {"count": 0, "errors": 0, "durations": Counter()})
                merged["count"] += fig.get("count", 0)
                merged["errors"] += fig.get("errors", 0)
                merged["durations"].update(fig.get("durations", {}))
    for table in (actions, agents):
        for merged in table.values():
            merged["durations"] = dict(merged["durations"])
            merged.update(_quantiles(merged["durations"]))
    run_durations = merge_distributions(r.run_durations or {} for r in rows)
    return {
        "windows": len(rows),
        "attempts": attempts,
        "attempts_failed": failed,
        "error_rate": failed / attempts if attempts else 0.0,
        "orders_delivered": delivered,
        "orders_within_slo": within,
        "within_slo_share": within / delivered if delivered else None,
        "runs_finished": sum(r.runs_finished for r in rows),
        "runs_succeeded": sum(r.runs_succeeded for r in rows),
        "run_p50_seconds": distribution_percentile(run_durations, 50),
        "run_p95_seconds": distribution_percentile(run_durations, 95),
        "by_action": dict(sorted(actions.items())),
        "by_agent": dict(sorted(agents.items())),
    }
