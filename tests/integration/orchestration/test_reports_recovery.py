"""The safety nets a tick runs: lease recovery (attempts whose worker died or overran) and the
repair of runs left with nothing queued or running; and the stale reports of a batched
completion, recorded for what they were."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from orchestration import queue, reports, services
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.retry import RetryPolicy
from orchestration.workflows import Step, Workflow, register_workflow
from tests.conftest import database_url_of_test_db, postgres_only

register_workflow(
    Workflow(name="test-reports-repair", version=1, steps=(Step("only", "engine.echo"),)),
)


def expired(clock: Any, count: int) -> list[int]:
    """`count` tasks whose worker went silent past the lease (with attempts left)."""
    ids = services.enqueue_many(
        "engine.noop", [{"n": i} for i in range(count)], retry=RetryPolicy(max_attempts=3), timeout_seconds=5
    )
    queue.claim(limit=count, worker="w", now=clock.now())
    clock.advance(6)
    return ids


def stalled(clock: Any) -> WorkflowRun:
    """A run whose only step succeeded, its run not advanced (a crash between the two commits)."""
    run = services.run_start(workflow="test-reports-repair", input={})
    [claimed] = queue.claim(limit=1, worker="w", now=clock.now())
    Task.objects.filter(id=claimed.id).update(status=TaskStatus.SUCCEEDED, lease_token=None, finished_at=clock.now())
    return run


@pytest.mark.django_db
def test_lease_recovery_counts_every_lease_it_recovers(clock) -> None:
    ids = expired(clock, 3)
    assert services.recover_expired_leases() == 3
    assert set(Task.objects.filter(id__in=ids).values_list("status", flat=True)) == {TaskStatus.QUEUED}


@pytest.mark.django_db
def test_lease_recovery_takes_at_most_its_limit_and_leaves_the_rest_to_the_next_tick(clock) -> None:
    ids = expired(clock, 3)
    assert services.recover_expired_leases(limit=2) == 2
    assert Task.objects.filter(id__in=ids, status=TaskStatus.RUNNING).count() == 1
    assert services.recover_expired_leases() == 1


@pytest.mark.django_db
def test_a_tick_asks_the_queue_for_at_most_a_hundred_expired_leases(clock, monkeypatch) -> None:
    """One tick's recovery is bounded: a backlog of dead leases is worked off over several ticks."""
    asked: list[Any] = []
    real = queue.expired_leases

    def spy(*, limit: Any) -> list[tuple[int, uuid.UUID]]:
        asked.append(limit)
        return real(limit=limit)

    monkeypatch.setattr(queue, "expired_leases", spy)
    services.recover_expired_leases()
    assert asked == [100]


@pytest.mark.django_db
def test_a_stalled_run_whose_steps_all_succeeded_is_finished_when_repaired(clock) -> None:
    run = stalled(clock)
    clock.advance(10)

    assert services.repair_stalled_runs() == 1

    run.refresh_from_db()
    assert (run.status, run.finished_at) == (RunStatus.SUCCEEDED, clock.now())


@pytest.mark.django_db
def test_repair_counts_every_run_it_advances(clock) -> None:
    runs = [stalled(clock), stalled(clock)]
    assert services.repair_stalled_runs() == 2
    assert {r.status for r in WorkflowRun.objects.filter(id__in=[r.id for r in runs])} == {RunStatus.SUCCEEDED}


@pytest.mark.django_db
def test_a_tick_repairs_at_most_fifty_runs_and_leaves_the_rest_to_the_next(clock) -> None:
    runs = WorkflowRun.objects.bulk_create(
        WorkflowRun(workflow="test-reports-repair", version=1, definition={}, input={}) for _ in range(51)
    )
    Task.objects.bulk_create(
        Task(run=run, step="only", action="engine.echo", status=TaskStatus.SUCCEEDED, run_after=clock.now())
        for run in runs
    )

    assert services.repair_stalled_runs() == 50
    assert WorkflowRun.objects.filter(status=RunStatus.RUNNING).count() == 1
    assert services.repair_stalled_runs() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_repair_locks_the_run_without_blocking_a_claims_foreign_key_check(clock, monkeypatch) -> None:
    """While repair advances a run it holds the run's row FOR NO KEY UPDATE: a claim of another
    step of that run (its attempt row's foreign key takes FOR KEY SHARE on the run) goes on
    rather than waiting for the repair to commit. Real commits: the second connection sees the run."""
    run = stalled(clock)
    url = "postgresql://" + database_url_of_test_db().split("://", 1)[1]
    real_advance = reports.advance
    checked: list[bool] = []

    def advance_while_a_claim_checks_its_key(locked: WorkflowRun, now: Any) -> bool:
        with psycopg.connect(url) as other:
            other.execute("SELECT 1 FROM orchestration_workflowrun WHERE id = %s FOR KEY SHARE NOWAIT", [locked.id])
            checked.append(True)
        return real_advance(locked, now)

    monkeypatch.setattr(reports, "advance", advance_while_a_claim_checks_its_key)
    assert services.repair_stalled_runs() == 1
    assert checked == [True]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


@pytest.mark.django_db
def test_a_stale_batched_completion_is_recorded_as_a_completion_report(clock) -> None:
    task = services.enqueue("engine.noop", timeout_seconds=30)
    [claimed] = queue.claim(limit=1, worker="w", now=clock.now())
    lost = uuid.uuid4()

    assert services.task_complete_batch(outputs={task.id: {"late": True}}, lease_token=lost) == 0

    assert Task.objects.get(id=task.id).lease_token == claimed.lease_token
    stale = AgentRun.objects.get(task=task, outcome=AttemptOutcome.STALE)
    assert (stale.lease_token, stale.detail["report"], stale.detail["output"]) == (lost, "completed", {"late": True})


@pytest.mark.django_db
def test_a_batched_completion_finishes_its_tasks_at_the_engines_now(clock) -> None:
    task = services.enqueue("engine.noop", timeout_seconds=30)
    [claimed] = queue.claim(limit=1, worker="w", now=clock.now())
    clock.advance(3)

    assert services.task_complete_batch(outputs={task.id: {"ok": 1}}, lease_token=claimed.lease_token) == 1

    task.refresh_from_db()
    assert (task.status, task.finished_at) == (TaskStatus.SUCCEEDED, clock.now())
    attempt = AgentRun.objects.get(task=task)
    assert (attempt.finished_at, attempt.duration_ms) == (clock.now(), 3000)
