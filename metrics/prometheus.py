"""Prometheus exposition of the database's figures.

A custom collector reads the tables at scrape time: serverless instances share no
memory, so process-global counters would each tell a different story. Gauges are
snapshots; per-action figures come from the latest complete 5-minute window (its
stored rollup, or computed at scrape time when the cron has not run yet) and, under
`live_window_*`, from the window under way.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Sum
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from metrics.distributions import BUCKET_BOUNDS_MS
from metrics.models import ErrorGroup, Rollup
from metrics.rollups import late_orders, latest_windows, merge_rollups, queue_gauges
from orchestration import clock
from orchestration.models import RunStatus, WorkflowRun
from orders.models import Project, ProjectStatus


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = clock.now()
        gauges = queue_gauges(now=now)
        tasks = GaugeMetricFamily("engine_tasks", "Tasks by status", labels=["status"])
        for status, n in gauges["task_status"].items():
            tasks.add_metric([status], n)
        yield tasks
        yield GaugeMetricFamily("engine_queue_depth", "Queued tasks already due", value=gauges["queue_depth"])
        yield GaugeMetricFamily(
            "engine_oldest_waiting_seconds",
            "How long the oldest due task has waited",
            value=gauges["oldest_waiting_seconds"],
        )

        runs = GaugeMetricFamily("engine_workflow_runs", "Workflow runs by status", labels=["status"])
        counts = dict(WorkflowRun.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in RunStatus.values:
            runs.add_metric([status], counts.get(status, 0))
        yield runs

        orders = GaugeMetricFamily("orders", "Orders by status", labels=["status"])
        counts = dict(Project.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in ProjectStatus.values:
            orders.add_metric([status], counts.get(status, 0))
        yield orders
        yield GaugeMetricFamily("orders_late", "Paid orders past their SLO", value=late_orders(now=now).count())

        errors = ErrorGroup.objects.aggregate(groups=Count("id"), total=Sum("count"))
        yield GaugeMetricFamily("error_groups", "Distinct error fingerprints", value=errors["groups"] or 0)
        yield GaugeMetricFamily("errors_recorded", "Occurrences over all error groups", value=errors["total"] or 0)

        # The last complete window even when the cron has not stored it yet, and the window
        # under way: a scrape right after an order already counts its attempts.
        complete, partial = latest_windows(now=now)
        yield GaugeMetricFamily(
            "rollup_window_stored",
            "1 if the cron has stored the latest complete window, 0 if it was computed at scrape time",
            value=1 if complete.pk else 0,
        )
        yield GaugeMetricFamily(
            "rollup_window_start_timestamp_seconds",
            "Start of the latest complete 5-minute window",
            value=complete.window_start.timestamp(),
        )
        yield from _window_metrics(complete, "rollup", "the latest complete window")
        yield GaugeMetricFamily(
            "live_window_start_timestamp_seconds",
            "Start of the 5-minute window under way (partial: counted up to the scrape)",
            value=partial.window_start.timestamp(),
        )
        yield from _window_metrics(partial, "live_window", "the window under way")


def _window_metrics(row: Rollup, prefix: str, where: str) -> Iterator[Metric]:
    yield GaugeMetricFamily(f"{prefix}_error_rate", f"Share of attempts that failed in {where}", value=row.error_rate)
    attempts = GaugeMetricFamily(f"{prefix}_attempts", f"Attempts that ended in {where}", labels=["action", "outcome"])
    quantiles = GaugeMetricFamily(
        f"{prefix}_attempt_duration_seconds", f"Attempt duration percentiles in {where}", labels=["action", "quantile"]
    )
    buckets = GaugeMetricFamily(
        f"{prefix}_attempt_duration_bucket", f"Attempts in {where} at or under `le` seconds", labels=["action", "le"]
    )
    bounds = [*(f"{b / 1000:g}" for b in BUCKET_BOUNDS_MS), "+Inf"]
    for action, fig in sorted((row.by_action or {}).items()):
        for outcome, n in sorted(fig.get("outcomes", {}).items()):
            attempts.add_metric([action, outcome], n)
        for q in (50, 95, 99):
            if fig.get(f"p{q}") is not None:
                quantiles.add_metric([action, f"{q / 100:g}"], fig[f"p{q}"] / 1000)
        cumulative = 0
        for le, n in zip(bounds, fig.get("buckets", []), strict=False):
            cumulative += n
            buckets.add_metric([action, le], cumulative)
    yield attempts
    yield quantiles
    yield buckets
    merged = merge_rollups([row])
    agents = GaugeMetricFamily(
        f"{prefix}_agent_attempt_duration_seconds",
        f"Attempt duration percentiles per agent in {where}",
        labels=["agent", "quantile"],
    )
    for agent, fig in merged["by_agent"].items():
        for q in (50, 95, 99):
            if fig[f"p{q}"] is not None:
                agents.add_metric([agent, f"{q / 100:g}"], fig[f"p{q}"] / 1000)
    yield agents
    workflow = GaugeMetricFamily(
        f"{prefix}_workflow_duration_seconds",
        f"Duration of the workflow runs that succeeded in {where}",
        labels=["quantile"],
    )
    for q in (50, 95):
        if merged[f"run_p{q}_seconds"] is not None:
            workflow.add_metric([f"{q / 100:g}"], merged[f"run_p{q}_seconds"])
    yield workflow
    share = row.delivered_within_slo_share
    if share is not None:
        yield GaugeMetricFamily(
            f"{prefix}_orders_within_slo_ratio", f"Share of orders delivered within the SLO in {where}", value=share
        )


def exposition() -> bytes:
    """The text format of a fresh registry holding only the database collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
