"""Rollups: exact percentiles, one row per window whatever the number of runs, catch-up of
missed windows, pruning."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from metrics.models import Rollup
from metrics.rollups import (
    CATCH_UP,
    FLOW_FIELDS,
    distribution,
    distribution_percentile,
    histogram,
    histogram_quantile,
    merge_distributions,
    percentile,
    rollup,
    rollup_windows,
    significant,
    window_of,
)
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.services import enqueue
from tests.conftest import postgres_only
from tests.support.factories import order_run, paid_order


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


@pytest.mark.parametrize(
    ("value", "expected"),
    [(12.0, 12.0), (999.0, 999.0), (12.34, 12.3), (1234.0, 1230.0), (98765.0, 98800.0), (0.4567, 0.457), (0.0, 0.0)],
)
def test_durations_are_kept_to_three_significant_digits(value, expected):
    assert significant(value) == expected


@pytest.mark.parametrize("q", [50, 95, 99])
def test_merged_distributions_give_the_exact_percentiles_of_all_the_values(q):
    # Two windows of 10-100 ms durations: coarse buckets (50, 100, 250...) would put every
    # one of them in two buckets; the distributions keep each millisecond.
    first, second = [float(v) for v in range(10, 60)], [float(v) for v in range(37, 101, 3)]
    merged = merge_distributions([distribution(first), distribution(second)])
    assert distribution_percentile(merged, q) == percentile(sorted(first + second), q)
    assert distribution_percentile({}, q) is None


def window_rows() -> dict[str, dict]:
    """Every stored window's figures, by start (for before/after comparisons)."""
    return {r["window_start"].strftime("%H:%M"): r for r in Rollup.objects.values()}


@pytest.mark.django_db
def test_a_missed_window_is_filled_in_by_the_next_rollup_with_its_flows_but_no_gauges(clock):
    clock.advance(60)  # 09:01
    attempts(clock, "design-ia.generate", [10.0, 20.0])
    clock.advance(300)  # 09:06: the cron should roll up 09:00 now, and does not
    attempts(clock, "automation.build", [30.0])
    clock.advance(360)  # 09:12
    written = rollup_windows()
    assert [f"{r.window_start:%H:%M}" for r in written] == ["09:00", "09:05"]
    rows = window_rows()
    missed, latest = rows["09:00"], rows["09:05"]
    assert (missed["attempts"], list(missed["by_action"])) == (2, ["design-ia.generate"])
    assert missed["by_action"]["design-ia.generate"]["p95"] == 20.0
    assert (missed["queue_depth"], missed["oldest_waiting_seconds"], missed["orders_late"]) == (None, None, None)
    assert (latest["attempts"], latest["queue_depth"], latest["orders_late"]) == (1, 0, 0)


@pytest.mark.django_db
def test_rerunning_the_rollup_changes_nothing(clock):
    clock.advance(60)
    attempts(clock, "design-ia.generate", [10.0, 20.0])
    clock.advance(720)  # 09:13: 09:00 and 09:05 are missing
    rollup()
    before = window_rows()
    rollup()  # the cron delivered twice
    assert window_rows() == before
    clock.advance(60)  # later in the same window: the flows stay, the latest gauges are re-measured
    rollup()
    after = window_rows()
    assert after.keys() == before.keys() == {"09:00", "09:05"}
    for start in after:
        assert {f: after[start][f] for f in FLOW_FIELDS} == {f: before[start][f] for f in FLOW_FIELDS}
    assert after["09:00"]["computed_at"] == before["09:00"]["computed_at"]  # a filled-in window is left alone


@pytest.mark.django_db
def test_catching_up_never_erases_the_gauges_measured_in_time(clock):
    enqueue("engine.noop", {})
    clock.advance(400)  # 09:06:40
    measured = rollup()
    assert (f"{measured.window_start:%H:%M}", measured.queue_depth) == ("09:00", 1)
    clock.advance(900)  # 09:21:40: 09:05 and 09:10 were missed
    rollup_windows(since=clock.now() - timedelta(minutes=30))  # recompute from 08:50 on, 09:00 included
    rows = window_rows()
    assert rows["09:00"]["queue_depth"] == 1 and rows["09:00"]["oldest_waiting_seconds"] == 400.0
    assert rows["09:05"]["queue_depth"] is None and rows["09:15"]["queue_depth"] == 1


@pytest.mark.django_db
def test_a_fresh_install_is_not_backfilled_before_its_first_activity(clock):
    clock.advance(3600)  # 10:00: an hour with nothing at all
    assert len(rollup_windows()) == 1


@pytest.mark.django_db
def test_catch_up_goes_back_at_most_a_day(clock):
    clock.advance(60)
    attempts(clock, "design-ia.generate", [10.0])  # 09:01 on day one, rolled up in time
    clock.advance(300)
    rollup()
    clock.advance(30 * 3600)  # 15:06 the next day: the cron has been down for 30 hours
    attempts(clock, "design-ia.generate", [20.0])
    clock.advance(300)
    written = rollup_windows()
    assert written[0].window_start == window_of(clock.now())[0] - CATCH_UP  # not back to day one
    assert len(written) == CATCH_UP // timedelta(minutes=5)
    assert [r.attempts for r in written if r.attempts] == [1]  # the quiet windows are zeros, not holes


@pytest.mark.django_db
def test_rollup_metrics_since_recomputes_older_windows_within_the_retention(clock, settings):
    settings.METRICS_RETENTION_DAYS = 30
    clock.advance(60)
    attempts(clock, "design-ia.generate", [10.0, 20.0, 30.0])
    clock.advance(300)
    rollup()
    Rollup.objects.update(attempts=0, by_action={})  # a bug corrupted the stored figures
    call_command("rollup_metrics", "--since", "10m", stdout=StringIO())
    assert window_rows()["09:00"]["attempts"] == 3
    with pytest.raises(CommandError, match="older than the raw rows kept"):
        call_command("rollup_metrics", "--since", "31d", stdout=StringIO())
    with pytest.raises(CommandError, match="give a duration"):
        call_command("rollup_metrics", "--since", "yesterday", stdout=StringIO())
