"""Operator acts (orchestration.acts) in detail: what each one records and logs, which attempts it
closes and when, and the state a retried or replayed task is left in before any worker runs.
The acts' end-to-end outcomes (a replayed run succeeds, ...) are in test_engine.py."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User

from orchestration import services
from orchestration.budget import Budget
from orchestration.exceptions import IllegalTransition, InvalidWorkflow
from orchestration.execution import tick
from orchestration.models import AgentRun, AttemptOutcome, OperatorAction, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.queue import claim
from orchestration.starting import step_key

pytestmark = pytest.mark.django_db

STAFF = services.Actor(label="test:staff")


def _steps(run: WorkflowRun) -> dict[str, Task]:
    return {t.step: t for t in run.tasks.all()}


def _failed_fragile_run() -> WorkflowRun:
    """test-fragile with its step c dead (a and b succeeded, d waiting on c): the run failed."""
    run = services.run_start(workflow="test-fragile", input={"flag": "/nonexistent/flag"})
    tick(budget=Budget.seconds(30))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    return run


def _claim_both(first: WorkflowRun, second: WorkflowRun, clock: Any) -> None:
    """Both runs' "start" steps claimed: an attempt of each is running."""
    while len(claimed := {a.run_id for a in AgentRun.objects.filter(outcome=AttemptOutcome.RUNNING)}) < 2:
        assert claim(limit=1, worker="w", now=clock.now()), claimed
    assert claimed == {first.id, second.id}


def _acts_logged(caplog: Any) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "orchestration" and r.getMessage() == "operator act"]


def test_a_staff_actor_is_labelled_with_the_username_and_recorded_as_the_user() -> None:
    user = User.objects.create_user("ops", "ops@studio.example", "pw")
    actor = services.Actor.of_user(user)
    assert (actor.label, actor.user) == ("staff:ops", user)

    run = _failed_fragile_run()
    services.task_retry(task=_steps(run)["c"], actor=actor)

    act = OperatorAction.objects.get()
    assert (act.actor_id, act.actor_label) == (user.id, "staff:ops")


def test_a_retry_records_and_logs_the_act_with_its_run_and_task(caplog: Any) -> None:
    run = _failed_fragile_run()
    dead = _steps(run)["c"]

    with caplog.at_level(logging.INFO, logger="orchestration"):
        services.task_retry(task=dead, actor=STAFF)

    act = OperatorAction.objects.get()
    assert (act.verb, act.run_id, act.task_id, act.detail) == ("retry_task", run.id, dead.id, {})
    [logged] = _acts_logged(caplog)
    assert (logged.action, logged.actor, logged.run_id, logged.task_id) == (
        "retry_task",
        "test:staff",
        str(run.id),
        dead.id,
    )


def test_a_retried_task_whose_needs_succeeded_is_queued_at_once_under_the_next_generation() -> None:
    run = _failed_fragile_run()

    services.task_retry(task=_steps(run)["c"], actor=STAFF)

    run.refresh_from_db()
    retried = _steps(run)["c"]
    assert (run.status, run.error, run.finished_at) == (RunStatus.RUNNING, "", None)
    assert retried.status == TaskStatus.QUEUED  # its need, a, succeeded
    assert retried.idempotency_key == step_key(run, "c") == f"{run.id}:c:g2"


def test_a_retry_in_a_failed_run_requeues_the_steps_fail_fast_cancelled() -> None:
    run = services.run_start(workflow="test-two-fragile", input={"flags": "/nonexistent"})
    tick(budget=Budget.seconds(30))
    run.refresh_from_db()
    # As fail-fast leaves a parallel branch that was still running when the run failed.
    Task.objects.filter(run=run, step="right").update(status=TaskStatus.CANCELLED)

    services.task_retry(task=_steps(run)["left"], actor=STAFF)

    run.refresh_from_db()
    assert _steps(run)["left"].status == TaskStatus.QUEUED  # its needs are all that succeeded: {a}
    stopped = _steps(run)["right"]
    assert stopped.status == TaskStatus.QUEUED  # its need, a, succeeded
    assert stopped.idempotency_key == step_key(run, "right")


def test_a_dead_task_of_no_run_is_queued_again_by_a_retry(caplog: Any) -> None:
    task = services.enqueue("engine.noop", idempotency_key="plain-1")
    Task.objects.filter(id=task.id).update(status=TaskStatus.DEAD)

    with caplog.at_level(logging.INFO, logger="orchestration"):
        services.task_retry(task=task, actor=STAFF)

    task.refresh_from_db()
    assert (task.status, task.idempotency_key) == (TaskStatus.QUEUED, "plain-1")
    [logged] = _acts_logged(caplog)
    assert (logged.run_id, logged.task_id) == (None, task.id)


def test_a_cancel_closes_the_running_attempts_of_its_own_run_only_at_the_cancel_time(clock: Any) -> None:
    cancelled = services.run_start(workflow="test-diamond")
    other = services.run_start(workflow="test-diamond")
    _claim_both(cancelled, other, clock)
    clock.advance(5)

    services.run_cancel(run=cancelled, actor=STAFF)

    cancelled.refresh_from_db()
    assert cancelled.finished_at == clock.now()
    [closed] = AgentRun.objects.filter(run=cancelled)
    assert (closed.outcome, closed.finished_at) == (AttemptOutcome.CANCELLED, clock.now())
    assert list(AgentRun.objects.filter(run=other).values_list("outcome", flat=True)) == [AttemptOutcome.RUNNING]


def test_a_replay_queues_the_failed_step_at_once_and_clears_the_runs_error() -> None:
    run = _failed_fragile_run()
    assert run.error

    services.run_replay(run=run, actor=STAFF)

    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.RUNNING, "")
    assert {s: t.status for s, t in _steps(run).items() if s in "cd"} == {"c": "queued", "d": "waiting"}
    act = OperatorAction.objects.get()
    assert act.detail == {"steps": ["c", "d"], "from_step": None}


def test_a_replay_closes_the_running_attempts_of_the_steps_it_resets_in_its_own_run_only(clock: Any) -> None:
    replayed = services.run_start(workflow="test-diamond")
    other = services.run_start(workflow="test-diamond")
    _claim_both(replayed, other, clock)
    # As a run left failed with an attempt still out (its lease not yet expired).
    WorkflowRun.objects.filter(id=replayed.id).update(status=RunStatus.FAILED)
    Task.objects.filter(run=replayed, step="start").update(status=TaskStatus.DEAD)
    clock.advance(5)

    services.run_replay(run=replayed, actor=STAFF)

    [closed] = AgentRun.objects.filter(run=replayed)
    assert (closed.outcome, closed.finished_at) == (AttemptOutcome.CANCELLED, clock.now())
    assert list(AgentRun.objects.filter(run=other).values_list("outcome", flat=True)) == [AttemptOutcome.RUNNING]


def test_a_replay_from_an_unknown_step_names_the_steps_there_are() -> None:
    run = _failed_fragile_run()

    with pytest.raises(InvalidWorkflow, match=r"has no step 'z'; steps are \['a', 'b', 'c', 'd'\]"):
        services.replay_plan(run, mode="step", from_step="z")


def test_a_cancel_records_its_reason_and_stamps_the_tasks_it_stops_at_the_cancel_time(clock: Any) -> None:
    run = services.run_start(workflow="test-diamond")
    [start] = claim(limit=1, worker="w", now=clock.now())
    assert services.task_complete(task_id=start.id, output={}, lease_token=start.lease_token)
    clock.advance(5)

    services.run_cancel(run=run, actor=STAFF, reason="customer asked")

    run.refresh_from_db()
    assert (run.error, run.finished_at) == ("Cancelled by test:staff: customer asked", clock.now())
    stopped = [t for t in run.tasks.all() if t.step != "start"]
    assert {(t.status, t.finished_at) for t in stopped} == {(TaskStatus.CANCELLED, clock.now())}
    # The attempt that had finished keeps its outcome: only running ones are cancelled.
    assert list(AgentRun.objects.filter(run=run).values_list("outcome", flat=True)) == [AttemptOutcome.SUCCEEDED]
    act = OperatorAction.objects.get()
    assert (act.verb, act.run_id, act.detail) == ("cancel_run", run.id, {"reason": "customer asked"})


def test_a_cancel_without_a_reason_says_only_who_cancelled() -> None:
    run = services.run_start(workflow="test-diamond")

    services.run_cancel(run=run, actor=STAFF)

    run.refresh_from_db()
    assert run.error == "Cancelled by test:staff"


def test_a_retried_queued_task_is_due_at_once(clock: Any) -> None:
    task = services.enqueue("engine.noop", run_after=clock.now() + timedelta(hours=1))

    services.task_retry(task=task, actor=STAFF)

    task.refresh_from_db()
    assert (task.status, task.run_after) == (TaskStatus.QUEUED, clock.now())


def test_an_act_by_an_actor_with_no_saved_user_records_no_user() -> None:
    task = services.enqueue("engine.noop")

    services.task_retry(task=task, actor=services.Actor(label="api", user=AnonymousUser()))

    act = OperatorAction.objects.get()
    assert (act.actor_id, act.actor_label) == (None, "api")


def test_a_replay_from_scratch_queues_only_the_steps_that_need_nothing() -> None:
    run = _failed_fragile_run()

    services.run_replay(run=run, actor=STAFF, mode="scratch")

    assert {s: t.status for s, t in _steps(run).items()} == {
        "a": "queued",
        "b": "queued",
        "c": "waiting",
        "d": "waiting",
    }


def test_a_replay_mode_that_does_not_exist_is_named_in_the_refusal() -> None:
    run = _failed_fragile_run()

    with pytest.raises(InvalidWorkflow, match="Replay mode must be 'failed', 'scratch' or 'step', got 'all'"):
        services.replay_plan(run, mode="all")


def test_a_run_cancelled_before_any_step_failed_is_replayed_from_scratch_but_not_from_its_failed_steps() -> None:
    run = services.run_start(workflow="test-diamond")
    services.run_cancel(run=run, actor=STAFF)
    Task.objects.filter(run=run).update(status=TaskStatus.WAITING)  # cancelled before anything ran or failed
    run.refresh_from_db()

    with pytest.raises(IllegalTransition, match="has no failed or cancelled step to replay"):
        services.run_replay(run=run, actor=STAFF, mode="failed")
    services.run_replay(run=run, actor=STAFF, mode="scratch")

    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert _steps(run)["start"].status == TaskStatus.QUEUED


def test_a_replay_leaves_the_running_attempt_of_a_step_it_does_not_reset_running(clock: Any) -> None:
    run = services.run_start(workflow="test-diamond")
    assert claim(limit=1, worker="w", now=clock.now())
    # As a run left failed with its last step dead and its first step's attempt still out.
    WorkflowRun.objects.filter(id=run.id).update(status=RunStatus.FAILED)
    Task.objects.filter(run=run, step="join").update(status=TaskStatus.DEAD)

    services.run_replay(run=run, actor=STAFF, mode="failed")

    [attempt] = AgentRun.objects.filter(run=run)
    assert (attempt.outcome, attempt.finished_at) == (AttemptOutcome.RUNNING, None)
    assert _steps(run)["join"].status == TaskStatus.WAITING
