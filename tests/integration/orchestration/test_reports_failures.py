"""A failed attempt: what it does to the task, its attempt row and its run, and what the engine
announces of it (orchestration.signals.attempt_failed: error_type, location, traceback,
timed_out, final) and logs. A lease that ran out is a failure too (lease recovery)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from orchestration import queue, services
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus
from orchestration.retry import RetryPolicy
from orchestration.workflows import Step, Workflow, register_workflow

pytestmark = pytest.mark.django_db

LEASE_EXPIRED = "Lease expired: the worker died or overran the step's timeout"

register_workflow(
    Workflow(
        name="test-reports-one-step",
        version=1,
        steps=(Step("only", "engine.echo", retry=RetryPolicy(max_attempts=1)),),
    )
)


def claim(clock: Any) -> queue.ClaimedTask:
    [claimed] = queue.claim(limit=1, worker="w", now=clock.now())
    return claimed


def test_a_failure_with_attempts_left_is_announced_not_final_with_the_engines_defaults(clock, failures) -> None:
    """A report that names no error type, location or traceback: the announcement says
    TaskError, the task's action and no traceback; the attempt row keeps what was reported."""
    task = services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=2, base_seconds=1))
    claimed = claim(clock)
    clock.advance(2)

    assert services.task_fail(task_id=task.id, error="boom", lease_token=claimed.lease_token)

    [failure] = failures
    assert failure["task"].id == task.id and failure["run"] is None
    assert (failure["error_type"], failure["location"], failure["message"], failure["traceback"]) == (
        "TaskError",
        "engine.noop",
        "boom",
        "",
    )
    assert failure["timed_out"] is False and failure["final"] is False
    task.refresh_from_db()
    assert (task.status, task.last_error, task.finished_at) == (TaskStatus.QUEUED, "boom", None)
    attempt = AgentRun.objects.get(task=task)
    assert (attempt.outcome, attempt.error, attempt.error_type, attempt.finished_at) == (
        AttemptOutcome.RETRY,
        "boom",
        "",
        clock.now(),
    )


def test_the_last_failed_attempt_kills_the_task_and_is_announced_final(clock, failures) -> None:
    task = services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=1))
    claimed = claim(clock)
    clock.advance(2)

    assert services.task_fail(task_id=task.id, error="boom", error_type="ValueError", lease_token=claimed.lease_token)

    task.refresh_from_db()
    assert (task.status, task.finished_at, task.lease_token) == (TaskStatus.DEAD, clock.now(), None)
    attempt = AgentRun.objects.get(task=task)
    assert (attempt.outcome, attempt.error_type) == (AttemptOutcome.FAILED, "ValueError")
    [failure] = failures
    assert failure["final"] is True and failure["timed_out"] is False and failure["error_type"] == "ValueError"


def test_a_recovered_lease_is_a_timed_out_attempt_run_again_at_once(clock, failures) -> None:
    task = services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=2, base_seconds=60), timeout_seconds=5)
    claimed = claim(clock)
    clock.advance(6)

    assert services.recover_expired_leases() == 1

    task.refresh_from_db()
    assert (task.status, task.last_error, task.lease_token) == (TaskStatus.QUEUED, LEASE_EXPIRED, None)
    assert task.run_after <= clock.now(), "no backoff: the worker died, not the action's dependency"
    attempt = AgentRun.objects.get(task=task, lease_token=claimed.lease_token)
    assert (attempt.outcome, attempt.error, attempt.error_type) == (
        AttemptOutcome.TIMED_OUT,
        LEASE_EXPIRED,
        "LeaseExpired",
    )
    [failure] = failures
    assert (failure["error_type"], failure["message"]) == ("LeaseExpired", LEASE_EXPIRED)
    assert failure["timed_out"] is True and failure["final"] is False


def test_a_lease_that_runs_out_on_the_last_attempt_kills_the_task_timed_out(clock, failures) -> None:
    task = services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=1), timeout_seconds=5)
    claim(clock)
    clock.advance(6)

    assert services.recover_expired_leases() == 1

    task.refresh_from_db()
    assert (task.status, task.finished_at) == (TaskStatus.DEAD, clock.now())
    assert AgentRun.objects.get(task=task).outcome == AttemptOutcome.TIMED_OUT
    [failure] = failures
    assert failure["timed_out"] is True and failure["final"] is True


def test_a_timed_out_failure_that_names_no_error_type_is_announced_as_lease_expired(clock, failures) -> None:
    task = services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=2), timeout_seconds=5)
    claimed = claim(clock)
    clock.advance(6)

    assert services.task_fail(task_id=task.id, error="gone", lease_token=claimed.lease_token, timed_out=True)

    [failure] = failures
    assert failure["error_type"] == "LeaseExpired"


def test_a_failure_under_a_lost_lease_changes_nothing_and_is_recorded_stale(clock, failures) -> None:
    task = services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=1))
    claimed = claim(clock)
    lost = uuid.uuid4()

    assert not services.task_fail(task_id=task.id, error="late", lease_token=lost)

    task.refresh_from_db()
    assert (task.status, task.lease_token) == (TaskStatus.RUNNING, claimed.lease_token)
    assert failures == []
    stale = AgentRun.objects.get(task=task, outcome=AttemptOutcome.STALE)
    assert stale.lease_token == lost
    assert stale.detail == {
        "report": "failed",
        "task_status": TaskStatus.RUNNING,
        "current_attempt": claimed.attempt,
        "error": "late",
    }


def test_a_timed_out_failure_of_a_lease_still_running_changes_nothing_and_records_nothing(clock) -> None:
    """Recovery saw the lease expired, then a heartbeat extended it: not a report of the worker's,
    so nothing is recorded stale."""
    task = services.enqueue("engine.noop", timeout_seconds=30)
    claimed = claim(clock)

    assert not services.task_fail(task_id=task.id, error=LEASE_EXPIRED, lease_token=claimed.lease_token, timed_out=True)

    assert Task.objects.get(id=task.id).status == TaskStatus.RUNNING
    assert list(AgentRun.objects.filter(task=task).values_list("outcome", flat=True)) == [AttemptOutcome.RUNNING]


def test_a_step_that_fails_for_good_fails_its_run_then_and_there(clock) -> None:
    run = services.run_start(workflow="test-reports-one-step", input={})
    claimed = claim(clock)
    clock.advance(4)

    assert services.task_fail(task_id=claimed.id, error="boom", retryable=False, lease_token=claimed.lease_token)

    run.refresh_from_db()
    assert (run.status, run.finished_at, run.error) == (RunStatus.FAILED, clock.now(), "Step 'only' failed: boom")


def test_a_failed_attempt_is_logged_with_its_task_attempt_and_status(clock, caplog) -> None:
    task = services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=2, base_seconds=1))
    claimed = claim(clock)

    with caplog.at_level(logging.WARNING, logger="orchestration"):
        services.task_fail(task_id=task.id, error="boom", lease_token=claimed.lease_token)

    [logged] = [r for r in caplog.records if r.name == "orchestration" and r.levelno == logging.WARNING]
    assert logged.getMessage() == "attempt failed"
    assert (logged.action, logged.task_id, logged.attempt, logged.status) == (
        "task_fail",
        task.id,
        claimed.attempt,
        TaskStatus.QUEUED,
    )
