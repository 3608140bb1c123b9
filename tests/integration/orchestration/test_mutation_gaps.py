"""Behaviours that hand-written bugs in the engine once slipped past (issue 19): each test here
fails under the bug named in its docstring and passes on the engine as it should be."""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection

from orchestration import clock, queue, services
from orchestration.limits import parse_limits
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.retry import RetryPolicy
from orchestration.workflows import Step, Workflow, register_workflow
from orders.models import Project, ProjectStatus
from tests.conftest import database_url_of_test_db, postgres_only


def _holder_url() -> str:
    """The test database's URL for a second, independent psycopg connection."""
    return "postgresql://" + database_url_of_test_db().split("://", 1)[1]


# --- A claim skips the rows another transaction holds, it does not wait for them ---------------

claim_paths = pytest.mark.parametrize("limits", ["", "engine.noop=4"], ids=["plain", "limited"])


@postgres_only
@pytest.mark.django_db(transaction=True)
@claim_paths
def test_a_claim_returns_the_other_due_rows_at_once_while_one_queued_row_is_locked_elsewhere(limits, settings) -> None:
    """Catches `FOR UPDATE` without `SKIP LOCKED` in either claim statement: the claim would wait
    for the holder's transaction (here: fail on the lock timeout) instead of taking the others."""
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "CONCURRENCY_LIMITS": parse_limits(limits)}
    key = "engine.noop" if limits else ""
    ids = services.enqueue_many("engine.noop", [{"n": i} for i in range(3)], concurrency_key=key)
    first = min(ids)
    with psycopg.connect(_holder_url()) as holder:
        # Another transaction (a slow claimer, an operator's act) holds the first due row.
        holder.execute("SELECT id FROM orchestration_task WHERE id = %s FOR UPDATE", [first])
        with connection.cursor() as cur:
            cur.execute("SET lock_timeout = '2s'")
        try:
            began = time.monotonic()
            claimed = queue.claim(limit=10, worker="w", now=clock.now())
            waited = time.monotonic() - began
        finally:
            with connection.cursor() as cur:
                cur.execute("RESET lock_timeout")
            holder.rollback()
    taken = sorted(t.id for t in claimed)
    assert first not in taken
    # Under a limit of 4 per key one claim takes one row of that key (no hoarding).
    assert taken == (sorted(ids)[1:] if not limits else [sorted(ids)[1]])
    assert waited < 1.5, f"the claim waited {waited:.2f} s for the locked row"
    assert Task.objects.get(id=first).status == TaskStatus.QUEUED


# --- A late batched completion from a lost lease leaves the new holder alone -------------------


@pytest.mark.django_db
def test_a_late_batched_completion_of_a_lost_lease_applies_nothing_and_leaves_the_new_attempt_running(clock) -> None:
    """Catches the lease-token condition dropped from the batched completion of plain tasks: with
    `max_attempts > 1` the recovered task is running again (worker B's attempt), so the status
    check alone lets worker A's late report through."""
    task = services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=3, base_seconds=1), timeout_seconds=5)
    [a] = queue.claim(limit=1, worker="worker-a", now=clock.now())
    clock.advance(6)  # A goes silent past its lease
    assert services.recover_expired_leases() == 1
    clock.advance(2)
    [b] = queue.claim(limit=1, worker="worker-b", now=clock.now())
    assert (b.id, b.attempt) == (task.id, 2)

    applied = services.task_complete_batch(outputs={task.id: {"from": "worker-a"}}, lease_token=a.lease_token)

    assert applied == 0
    task.refresh_from_db()
    assert (task.status, task.attempt, task.lease_token, task.output) == (TaskStatus.RUNNING, 2, b.lease_token, None)
    assert task.finished_at is None
    attempt_b = AgentRun.objects.get(task=task, attempt=2, lease_token=b.lease_token)
    assert (attempt_b.outcome, attempt_b.finished_at) == (AttemptOutcome.RUNNING, None)
    stale = AgentRun.objects.get(task=task, outcome=AttemptOutcome.STALE)
    assert stale.lease_token == a.lease_token and stale.detail["output"] == {"from": "worker-a"}
    # B's own report still applies.
    assert services.task_complete_batch(outputs={task.id: {"from": "worker-b"}}, lease_token=b.lease_token) == 1
    task.refresh_from_db()
    assert (task.status, task.output) == (TaskStatus.SUCCEEDED, {"from": "worker-b"})


# --- A run's status hook that fails rolls the whole completion back ----------------------------

HOOK_FAILS: dict[str, bool] = {"on_success": True}


class HookFailed(Exception):
    pass


def hook_failing_on_success(run: WorkflowRun) -> None:
    """The run's status hook: fails when told to, for the run's end only (its start passes)."""
    if run.status == RunStatus.SUCCEEDED and HOOK_FAILS["on_success"]:
        raise HookFailed("the project could not follow its run")
    Project.objects.filter(id=run.subject_id).update(status=ProjectStatus.DELIVERED)


HOOKED = register_workflow(
    Workflow(
        name="test-gaps-hooked",
        version=1,
        on_finish="tests.integration.orchestration.test_mutation_gaps.hook_failing_on_success",
        steps=(Step("only", "engine.echo"),),
    )
)


@pytest.mark.django_db(transaction=True)
def test_a_status_hook_that_raises_on_the_last_completion_rolls_the_completion_back() -> None:
    """Catches the transaction dropped around the Postgres completion: the completion (one
    pipelined statement in autocommit) would commit on its own, and the hook's failure would leave
    the task and run succeeded with the hook's work undone. Real commits (transaction=True)."""
    HOOK_FAILS["on_success"] = True
    run = services.run_start(workflow="test-gaps-hooked", input={"n": 1})
    [claimed] = queue.claim(limit=1, worker="w", now=clock.now())

    with pytest.raises(HookFailed):
        services.task_complete(task_id=claimed.id, output={"done": 1}, lease_token=claimed.lease_token)

    task = Task.objects.get(id=claimed.id)
    assert (task.status, task.lease_token, task.output, task.finished_at) == (
        TaskStatus.RUNNING,
        claimed.lease_token,
        None,
        None,
    )
    run.refresh_from_db()
    assert (run.status, run.finished_at) == (RunStatus.RUNNING, None)
    attempt = AgentRun.objects.get(task_id=claimed.id, lease_token=claimed.lease_token)
    assert (attempt.outcome, attempt.finished_at) == (AttemptOutcome.RUNNING, None)
    assert not AgentRun.objects.filter(outcome=AttemptOutcome.STALE).exists()

    # Once the hook works, the same report completes the run.
    HOOK_FAILS["on_success"] = False
    try:
        assert services.task_complete(task_id=claimed.id, output={"done": 1}, lease_token=claimed.lease_token)
    finally:
        HOOK_FAILS["on_success"] = True
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


# --- What an idle worker asks the queue -------------------------------------------------------


@pytest.mark.django_db
def test_work_in_hand_is_due_queued_work_or_running_work_and_nothing_else(clock) -> None:
    # work_in_hand reads the engine's clock (the database's own on Postgres when the clock is real).
    assert not queue.work_in_hand()
    later = services.enqueue("engine.noop", run_after=clock.now() + timedelta(seconds=30))
    assert not queue.work_in_hand(), "work due later keeps no draining worker"
    clock.advance(30)
    assert queue.work_in_hand(), "due at that very moment"
    [claimed] = queue.claim(limit=1, worker="w", now=clock.now())
    assert claimed.id == later.id
    assert queue.work_in_hand(), "a running attempt"
    services.task_complete(task_id=claimed.id, output={}, lease_token=claimed.lease_token)
    assert not queue.work_in_hand()


@pytest.mark.django_db
def test_next_due_at_is_when_the_earliest_queued_task_becomes_due(clock) -> None:
    assert queue.next_due_at() is None
    services.enqueue("engine.noop", run_after=clock.now() + timedelta(seconds=60))
    soon = clock.now() + timedelta(seconds=5)
    services.enqueue("engine.noop", run_after=soon)
    [running] = queue.claim(limit=1, worker="w", now=clock.now() + timedelta(seconds=10))  # takes `soon`
    assert queue.next_due_at() == clock.now() + timedelta(seconds=60), "running work is not queued"
    services.task_complete(task_id=running.id, output={}, lease_token=running.lease_token)
    assert queue.next_due_at() == clock.now() + timedelta(seconds=60)
