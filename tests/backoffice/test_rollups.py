"""Rollups: exact percentiles, one row per window whatever the number of runs, pruning."""

from __future__ import annotations

from datetime import timedelta

import pytest

from metrics.models import Rollup
from metrics.rollups import histogram, histogram_quantile, percentile, rollup, window_of
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.services import enqueue
from tests.backoffice.factories import order_run, paid_order
from tests.conftest import postgres_only


def attempts(clock, action: str, durations_ms: list[float], outcome: str = AttemptOutcome.SUCCEEDED) -> None:
    task = enqueue(action, {})
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.SUCCEEDED)
    AgentRun.objects.bulk_create(
        AgentRun(
            task_id=task.pk,
            action=action,
            attempt=1,
            outcome=outcome,
            started_at=clock.now() - timedelta(milliseconds=ms),
            finished_at=clock.now(),
            duration_ms=ms,
        )
        for ms in durations_ms
    )


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        (list(range(1, 101)), 50, 50),
        (list(range(1, 101)), 95, 95),
        (list(range(1, 101)), 99, 99),
        ([10, 20, 30, 40], 50, 20),
        ([10, 20, 30, 40], 95, 40),
        ([7], 99, 7),
        ([], 50, None),
    ],
)
def test_percentile_is_the_nearest_rank(values, q, expected):
    assert percentile(values, q) == expected


def test_histogram_quantile_interpolates_inside_the_bucket():
    counts = histogram([150.0] * 10)  # all in the (100, 250] bucket
    assert histogram_quantile(50, counts) == pytest.approx(175.0)
    assert histogram_quantile(50, histogram([])) is None


def test_window_is_the_five_minutes_containing_the_moment(clock):
    start, end = window_of(clock.now().replace(minute=7, second=31))
    assert (start.minute, end.minute, start.second) == (5, 10, 0)


@pytest.mark.django_db
def test_rollup_gives_exact_percentiles_per_action_and_the_error_rate(clock):
    clock.advance(60)  # 09:01: inside the 09:00 window
    attempts(clock, "design-ia.generate", [float(ms) for ms in range(1, 101)])
    attempts(clock, "automation.deploy", [500.0, 700.0], outcome=AttemptOutcome.FAILED)
    attempts(clock, "automation.deploy", [300.0])
    clock.advance(300)  # 09:06: the 09:00 window is complete
    row = rollup()
    assert (row.window_start.hour, row.window_start.minute) == (9, 0)
    design = row.by_action["design-ia.generate"]
    assert (design["p50"], design["p95"], design["p99"], design["count"]) == (50.0, 95.0, 99.0, 100)
    deploy = row.by_action["automation.deploy"]
    assert (deploy["count"], deploy["errors"], deploy["p50"]) == (3, 2, 500.0)
    assert row.attempts == 103 and row.attempts_failed == 2
    assert row.error_rate == pytest.approx(2 / 103)
    assert row.by_outcome == {"succeeded": 101, "failed": 2}


@pytest.mark.django_db
def test_rollup_twice_in_a_window_keeps_one_row_with_the_same_figures(clock):
    clock.advance(60)
    attempts(clock, "design-ia.generate", [100.0, 200.0])
    clock.advance(300)
    first = rollup()
    clock.advance(30)
    second = rollup()
    assert Rollup.objects.count() == 1
    assert first.pk == second.pk and second.attempts == 2 and second.by_action == first.by_action


@pytest.mark.django_db
def test_rollup_counts_workflow_durations_and_deliveries_within_the_slo(clock, tmp_path):
    flag = tmp_path / "flag"
    flag.touch()
    clock.advance(60)
    _, run = order_run(flag)  # delivered at once under the fake clock
    WorkflowRun.objects.filter(pk=run.pk).update(created_at=run.finished_at - timedelta(seconds=120))
    slow = paid_order(email="slow@example.com", name="Slow", slug="slow")
    slow.paid_at = clock.now() - timedelta(minutes=40)
    slow.status, slow.delivered_at = "delivered", clock.now()
    slow.save()
    clock.advance(300)
    row = rollup()
    assert (row.runs_finished, row.runs_succeeded, row.run_p50_seconds) == (1, 1, 120.0)
    assert (row.orders_delivered, row.orders_within_slo) == (2, 1)
    assert row.delivered_within_slo_share == 0.5


@pytest.mark.django_db
def test_rollup_measures_queue_depth_and_the_oldest_waiting_task(clock):
    enqueue("engine.noop", {})
    clock.advance(90)
    enqueue("engine.noop", {})
    enqueue("engine.noop", {}, run_after=clock.now() + timedelta(hours=1))  # not due: not waiting
    row = rollup()
    assert row.queue_depth == 2
    assert row.oldest_waiting_seconds == 90.0
    assert row.task_status["queued"] == 3


@pytest.mark.django_db
def test_pruning_removes_only_old_finished_attempts_of_finished_runs(clock, tmp_path, settings):
    settings.METRICS_RETENTION_DAYS = 30
    _, failed = order_run(tmp_path / "missing-flag")
    old_finished = AgentRun.objects.filter(run=failed).count()
    _, running = order_run(tmp_path / "missing", email="r@example.com", name="R", slug="r")
    running.status = RunStatus.RUNNING
    running.save()
    AgentRun.objects.filter(run=running).update(outcome=AttemptOutcome.SUCCEEDED)
    clock.advance(31 * 86400)
    attempts(clock, "design-ia.generate", [10.0])  # fresh: kept
    row = rollup()
    assert row.pruned_agent_runs == old_finished == 3
    assert not AgentRun.objects.filter(run=failed).exists()
    assert AgentRun.objects.filter(run=running).count() == 3
    assert AgentRun.objects.filter(action="design-ia.generate").count() == 1


@postgres_only
@pytest.mark.django_db
def test_rollup_counts_database_connections_on_postgres(clock):
    assert rollup().db_connections >= 1
