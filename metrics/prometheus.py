"""Prometheus exposition of the database's figures.

A custom collector reads the tables at scrape time: serverless instances share no
memory, so process-global counters would each tell a different story. Gauges are
snapshots; per-action figures come from the latest complete rollup window.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Sum
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from metrics.models import ErrorGroup, Rollup
from metrics.rollups import BUCKET_BOUNDS_MS, late_orders, queue_gauges
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

        latest = Rollup.objects.order_by("-window_start").first()
        if latest is not None:
            yield from _window_metrics(latest)


def _window_metrics(row: Rollup) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "rollup_window_start_timestamp_seconds",
        "Start of the latest rolled-up window",
        value=row.window_start.timestamp(),
    )
    yield GaugeMetricFamily("rollup_error_rate", "Share of attempts that failed in the window", value=row.error_rate)
    attempts = GaugeMetricFamily("rollup_attempts", "Attempts that ended in the window", labels=["action", "outcome"])
    quantiles = GaugeMetricFamily(
        "rollup_attempt_duration_seconds", "Attempt duration percentiles in the window", labels=["action", "quantile"]
    )
    buckets = GaugeMetricFamily(
        "rollup_attempt_duration_bucket", "Attempts in the window at or under `le` seconds", labels=["action", "le"]
    )
    for action, fig in sorted((row.by_action or {}).items()):
        for outcome, n in sorted(fig.get("outcomes", {}).items()):
            attempts.add_metric([action, outcome], n)
        for q in (50, 95, 99):
            if fig.get(f"p{q}") is not None:
                quantiles.add_metric([action, f"0.{q}"], fig[f"p{q}"] / 1000)
        cumulative = 0
        bounds = [*(f"{b / 1000:g}" for b in BUCKET_BOUNDS_MS), "+Inf"]
        for le, n in zip(bounds, fig.get("buckets", []), strict=False):
            cumulative += n
            buckets.add_metric([action, le], cumulative)
    yield attempts
    yield quantiles
    yield buckets
    share = row.delivered_within_slo_share
    if share is not None:
        yield GaugeMetricFamily(
            "rollup_orders_within_slo_ratio", "Share of orders delivered within the SLO", value=share
        )


def exposition() -> bytes:
    """The text format of a fresh registry holding only the database collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
