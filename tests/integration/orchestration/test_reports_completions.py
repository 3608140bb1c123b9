"""A completion's report: one from a lost lease is recorded stale as a completion, and the
completion that leaves a run nothing to do beside a dead step fails the run (the run a staff
retry of one of its two dead steps brought back)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from orchestration import queue, services
from orchestration.exceptions import NotFound
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus
from orchestration.retry import RetryPolicy
from orchestration.services import Actor
from orchestration.workflows import Step, Workflow, register_workflow

pytestmark = pytest.mark.django_db

ONCE = RetryPolicy(max_attempts=1)
register_workflow(
    Workflow(
        name="test-reports-two-branches",
        version=1,
        steps=(Step("a", "engine.echo", retry=ONCE), Step("b", "engine.echo", retry=ONCE)),
    )
)


def claim(clock: Any, limit: int = 1) -> list[queue.ClaimedTask]:
    return queue.claim(limit=limit, worker="w", now=clock.now())


def test_a_completion_under_a_lost_lease_is_recorded_stale_as_a_completion(clock) -> None:
    task = services.enqueue("engine.noop", timeout_seconds=30)
    [claimed] = claim(clock)
    clock.advance(2)
    lost = uuid.uuid4()

    assert not services.task_complete(task_id=task.id, output={"late": 1}, lease_token=lost)

    assert Task.objects.get(id=task.id).status == TaskStatus.RUNNING
    stale = AgentRun.objects.get(task=task, outcome=AttemptOutcome.STALE)
    assert (stale.lease_token, stale.started_at) == (lost, clock.now())
    assert stale.detail == {
        "report": "completed",
        "task_status": TaskStatus.RUNNING,
        "current_attempt": claimed.attempt,
        "output": {"late": 1},
    }


def test_completing_the_last_live_step_beside_a_dead_one_fails_the_run_again(clock) -> None:
    run = services.run_start(workflow="test-reports-two-branches", input={})
    [first], [second] = claim(clock), claim(clock)
    for claimed in (first, second):
        assert services.task_fail(task_id=claimed.id, error="boom", retryable=False, lease_token=claimed.lease_token)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    steps = {t.step: t for t in Task.objects.filter(run=run)}
    services.task_retry(task=steps["a"], actor=Actor(label="test:staff"))
    [again] = claim(clock)
    assert again.step == "a"
    clock.advance(5)

    assert services.task_complete(task_id=again.id, output={"ok": 1}, lease_token=again.lease_token)

    run.refresh_from_db()
    assert (run.status, run.finished_at, run.error) == (
        RunStatus.FAILED,
        clock.now(),
        "Steps ['b'] failed and nothing else can run",
    )


def test_a_step_completing_after_its_run_failed_leaves_the_run_failed_as_it_was(clock) -> None:
    """Without fail-fast a failed run's running step goes on and its completion applies, but the
    run's end is not told again: its time and its reason stay those of the step that failed it."""
    run = services.run_start(workflow="test-reports-two-branches", input={})
    [first], [second] = claim(clock), claim(clock)
    clock.advance(1)
    assert services.task_fail(task_id=first.id, error="boom", retryable=False, lease_token=first.lease_token)
    run.refresh_from_db()
    failed_at, error = run.finished_at, run.error
    assert (run.status, error) == (RunStatus.FAILED, f"Step {first.step!r} failed: boom")
    clock.advance(5)

    assert services.task_complete(task_id=second.id, output={"ok": 1}, lease_token=second.lease_token)

    assert Task.objects.get(id=second.id).status == TaskStatus.SUCCEEDED
    run.refresh_from_db()
    assert (run.status, run.finished_at, run.error) == (RunStatus.FAILED, failed_at, error)


def test_a_completion_naming_a_run_that_does_not_exist_is_refused_and_changes_nothing(clock) -> None:
    task = services.enqueue("engine.noop", timeout_seconds=30)
    [claimed] = claim(clock)
    missing = uuid.uuid4()

    with pytest.raises(NotFound, match=f"No workflow run {missing}"):
        services.task_complete(task_id=task.id, output={}, lease_token=claimed.lease_token, run_id=missing)

    assert Task.objects.get(id=task.id).status == TaskStatus.RUNNING


def test_a_completion_with_the_right_token_but_another_attempt_is_refused(clock) -> None:
    """A report naming both its token and its attempt is held to both."""
    task = services.enqueue("engine.noop", timeout_seconds=30)
    [claimed] = claim(clock)

    assert not services.task_complete(
        task_id=task.id, output={}, lease_token=claimed.lease_token, attempt=claimed.attempt + 1
    )
    assert Task.objects.get(id=task.id).status == TaskStatus.RUNNING
