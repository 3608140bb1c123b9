"""Fences and leases (issue 12, defects 2, 3, 6 and 7).

- A renewal never shortens a lease (an agent's heartbeat after a 202).
- A report or heartbeat from an earlier attempt or generation (before a cancel and replay,
  or a retry) changes nothing, over HTTP as inline: attempt numbers never repeat, and the
  lease token sent with a dispatch fences whatever comes back with it.
- The heartbeat thread keys renewals by lease token: a continuation claimed again by the
  same worker keeps being renewed.
- Fail-fast: a run that fails for good cancels its queued steps and fences off its running
  ones; a replay queues them again.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from orchestration import clock, dispatch, queue, services
from orchestration.dispatch import Report
from orchestration.heartbeat import Heartbeater
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.retry import RetryPolicy
from orchestration.services import Actor
from orchestration.workflows import Step, Workflow, get_workflow, register_workflow

pytestmark = pytest.mark.django_db

STAFF = Actor(label="test:staff")
ONCE = RetryPolicy(max_attempts=1)

FAIL_FAST = register_workflow(
    Workflow(
        name="test-fail-fast",
        version=1,
        fail_fast=True,
        steps=(
            Step("root", "engine.echo"),
            # `bad` is claimed before its sibling (priority), so the sibling is still queued when it dies.
            Step("bad", "test.permanent", needs=("root",), retry=ONCE, priority=5),
            Step("sibling", "engine.echo", needs=("root",)),
            Step("after", "engine.echo", needs=("bad", "sibling")),
        ),
    )
)
NOT_FAIL_FAST = register_workflow(
    Workflow(
        name="test-not-fail-fast",
        version=1,
        steps=(
            Step("root", "engine.echo"),
            Step("bad", "test.permanent", needs=("root",), retry=ONCE, priority=5),
            Step("sibling", "engine.echo", needs=("root",)),
        ),
    )
)


def claim_one(**kwargs: Any) -> queue.ClaimedTask:
    (claimed,) = queue.claim(limit=1, worker=kwargs.pop("worker", "w"), now=clock.now(), **kwargs)
    return claimed


def expiry(task_id: int):
    return Task.objects.get(id=task_id).lease_expires_at


def stale_reports(task_id: int) -> list[dict]:
    return list(AgentRun.objects.filter(task_id=task_id, outcome=AttemptOutcome.STALE).values_list("detail", flat=True))


# --- Defect 2: a renewal never shortens a lease ---------------------------------------------


def test_an_agents_heartbeat_after_a_202_never_shortens_the_lease_to_the_short_one(settings: Any) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "LEASE_SECONDS": 20.0}
    task = services.enqueue("engine.echo", timeout_seconds=230)
    claimed = claim_one()
    # What dispatch does on a 202: until the callback, the step's timeout bounds the attempt.
    services.task_heartbeat(task_id=task.id, lease_token=claimed.lease_token, extend_seconds=225)
    long_lease = expiry(task.id)

    # The agent starts and heartbeats (a callback, or its own context): renewals of LEASE_SECONDS.
    assert dispatch.apply_report(Report("task_started", task_id=task.id, attempt=claimed.attempt))
    assert services.task_heartbeat(task_id=task.id, attempt=claimed.attempt, extend_seconds=20) is not None

    assert expiry(task.id) >= long_lease
    assert (expiry(task.id) - claimed.claimed_at).total_seconds() > 200


def test_a_renewal_past_the_current_expiry_extends_it(clock) -> None:
    task = services.enqueue("engine.echo", timeout_seconds=60)
    claimed = claim_one()
    first = expiry(task.id)
    clock.advance(10)
    services.task_heartbeat(task_id=task.id, lease_token=claimed.lease_token, extend_seconds=20)
    assert (expiry(task.id) - first).total_seconds() == pytest.approx(10)


# --- Defect 3: reports from an earlier generation or attempt change nothing -----------------


def _cancel_and_replay(run: WorkflowRun) -> WorkflowRun:
    services.run_cancel(run=run, actor=STAFF)
    return services.run_replay(run=WorkflowRun.objects.get(id=run.id), actor=STAFF, mode="scratch")


def test_after_cancel_and_replay_the_old_generations_reports_change_nothing_and_the_new_one_applies() -> None:
    run = services.run_start(workflow="test-versioned")
    old = claim_one()
    _cancel_and_replay(run)
    new = claim_one()
    assert new.id == old.id

    # The old attempt, over HTTP (fenced by its attempt number): its heartbeat and its late completion.
    assert services.task_heartbeat(task_id=old.id, attempt=old.attempt, extend_seconds=500) is None
    assert not dispatch.apply_report(Report("task_completed", old.id, old.attempt, data={"output": {"from": "old"}}))
    assert not services.task_complete(task_id=old.id, output={"from": "old"}, lease_token=old.lease_token)
    assert Task.objects.get(id=old.id).status == TaskStatus.RUNNING
    assert len(stale_reports(old.id)) == 2

    # The new attempt's own completion is applied.
    assert dispatch.apply_report(Report("task_completed", new.id, new.attempt, data={"output": {"from": "new"}}))
    task = Task.objects.get(id=new.id)
    assert (task.status, task.output) == (TaskStatus.SUCCEEDED, {"from": "new"})
    assert WorkflowRun.objects.get(id=run.id).status == RunStatus.SUCCEEDED


def test_a_resent_tokenless_report_of_a_continued_attempts_first_invocation_changes_nothing() -> None:
    """A continuation goes on with its attempt number under a new token: a report naming the
    attempt alone can no longer say which invocation sent it, so it is refused (stale), and the
    continuation, fenced by its token, is the one that completes the task."""
    task = services.enqueue("engine.echo", {})
    first = claim_one()
    continued = Report("task_completed", task.id, first.attempt, data={"continue": True, "cursor": {"page": 1}})
    assert dispatch.apply_report(continued)  # the first invocation checkpoints (attempt claimed once)
    second = claim_one()
    assert (second.attempt, second.lease_token != first.lease_token) == (first.attempt, True)

    # The first invocation's continue report, re-sent under a new webhook id, and its late completion.
    assert not dispatch.apply_report(continued)
    late = Report("task_completed", task.id, first.attempt, data={"output": {"from": "invocation 1"}})
    assert not dispatch.apply_report(late)
    assert services.task_heartbeat(task_id=task.id, attempt=first.attempt, extend_seconds=500) is None
    row = Task.objects.get(id=task.id)
    assert (row.status, row.lease_token) == (TaskStatus.RUNNING, second.lease_token)
    assert len(stale_reports(task.id)) == 2

    assert services.task_complete(task_id=task.id, output={"from": "invocation 2"}, lease_token=second.lease_token)
    row.refresh_from_db()
    assert (row.status, row.output) == (TaskStatus.SUCCEEDED, {"from": "invocation 2"})


def test_a_retried_task_never_reuses_an_attempt_number_and_keeps_its_full_budget() -> None:
    task = services.enqueue("test.permanent", retry=RetryPolicy(max_attempts=2))
    first = claim_one()
    services.task_fail(task_id=task.id, error="boom", retryable=False, lease_token=first.lease_token)
    services.task_retry(task=Task.objects.get(id=task.id), actor=STAFF)
    second = claim_one()

    assert second.attempt != first.attempt
    assert not services.task_fail(task_id=task.id, error="late", retryable=True, attempt=first.attempt)
    # A fresh set of attempts: a retryable failure of the new one is retried, not fatal.
    assert services.task_fail(task_id=task.id, error="flaky", retryable=True, lease_token=second.lease_token)
    assert Task.objects.get(id=task.id).status == TaskStatus.QUEUED


def test_the_dispatch_request_carries_the_lease_token_that_fences_the_callback() -> None:
    services.enqueue("engine.echo")
    claimed = claim_one()
    body = dispatch._request_body(claimed, 10.0, respond_async=True)
    assert body["leaseToken"] == str(claimed.lease_token)
    report = dispatch.run_dispatched({**body, "action": claimed.action}, budget=_budget())
    assert report.lease_token == str(claimed.lease_token)
    assert report.as_body()["leaseToken"] == str(claimed.lease_token)


def _budget():
    from orchestration.budget import Budget

    return Budget.seconds(30)


# --- Defect 6: renewals keyed by lease token -------------------------------------------------


def test_a_continuation_reclaimed_with_a_new_token_keeps_being_renewed(settings: Any) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "LEASE_SECONDS": 0.6}
    task = services.enqueue("engine.echo", timeout_seconds=60)
    first = claim_one()
    beater = Heartbeater()
    beater.track(task.id, first.lease_token, 60, start_thread=False)
    time.sleep(0.25)  # past a third of the lease: due for renewal
    in_flight = beater.due()  # the thread has taken the first token's renewal...
    services.task_continue(task_id=task.id, cursor={"at": 1}, lease_token=first.lease_token)
    second = claim_one()
    beater.track(task.id, second.lease_token, 60, start_thread=False)  # ...the same worker runs the continuation
    beater.renew(in_flight)  # ...and only then hears that the first token lost its lease
    assert beater.tracked_tokens() == {second.lease_token}

    time.sleep(0.25)
    before = expiry(task.id)
    beater.renew(beater.due())
    assert expiry(task.id) > before


# --- Defect 7: fail-fast ---------------------------------------------------------------------


def _steps(run: WorkflowRun) -> dict[str, str]:
    return dict(Task.objects.filter(run=run).values_list("step", "status"))


def _run_root(run: WorkflowRun) -> None:
    root = claim_one()
    assert root.step == "root"
    assert services.task_complete(task_id=root.id, output={}, lease_token=root.lease_token)


def test_a_fail_fast_run_that_fails_for_good_cancels_its_queued_steps(tmp_path) -> None:
    run = services.run_start(workflow="test-fail-fast")
    _run_root(run)
    bad = claim_one()
    assert bad.step == "bad"
    services.task_fail(task_id=bad.id, error="the brief is invalid", retryable=False, lease_token=bad.lease_token)

    assert WorkflowRun.objects.get(id=run.id).status == RunStatus.FAILED
    assert _steps(run) == {"root": "succeeded", "bad": "dead", "sibling": "cancelled", "after": "cancelled"}
    assert queue.claim(limit=10, worker="w", now=clock.now()) == []


def test_without_fail_fast_a_failed_runs_queued_sibling_still_runs() -> None:
    run = services.run_start(workflow="test-not-fail-fast")
    _run_root(run)
    bad = claim_one()
    services.task_fail(task_id=bad.id, error="the brief is invalid", retryable=False, lease_token=bad.lease_token)
    assert [t.step for t in queue.claim(limit=10, worker="w", now=clock.now())] == ["sibling"]


def test_a_fail_fast_run_fences_off_its_running_step_and_records_its_result_without_effect() -> None:
    run = services.run_start(workflow="test-fail-fast")
    _run_root(run)
    bad = claim_one(worker="a")
    sibling = claim_one(worker="b")
    assert sibling.step == "sibling"
    services.task_fail(task_id=bad.id, error="the brief is invalid", retryable=False, lease_token=bad.lease_token)

    assert Task.objects.get(id=sibling.id).status == TaskStatus.CANCELLED
    assert services.task_heartbeat(task_id=sibling.id, lease_token=sibling.lease_token, extend_seconds=20) is None
    assert not services.task_complete(task_id=sibling.id, output={"late": True}, lease_token=sibling.lease_token)
    task = Task.objects.get(id=sibling.id)
    assert (task.status, task.output) == (TaskStatus.CANCELLED, None)
    assert [d["report"] for d in stale_reports(sibling.id)] == ["completed"]
    outcomes = AgentRun.objects.filter(task_id=sibling.id).order_by("id").values_list("outcome", flat=True)
    assert list(outcomes) == [AttemptOutcome.CANCELLED, AttemptOutcome.STALE]


def test_a_replay_of_a_fail_fast_run_queues_its_cancelled_steps_again(tmp_path) -> None:
    run = services.run_start(workflow="test-fail-fast")
    _run_root(run)
    bad = claim_one()
    services.task_fail(task_id=bad.id, error="the brief is invalid", retryable=False, lease_token=bad.lease_token)
    services.run_replay(run=WorkflowRun.objects.get(id=run.id), actor=STAFF, mode="failed")
    assert _steps(run) == {"root": "succeeded", "bad": "queued", "sibling": "queued", "after": "waiting"}


def test_retrying_the_dead_step_of_a_fail_fast_run_brings_back_its_cancelled_steps() -> None:
    run = services.run_start(workflow="test-fail-fast")
    _run_root(run)
    bad = claim_one()
    services.task_fail(task_id=bad.id, error="the brief is invalid", retryable=False, lease_token=bad.lease_token)
    services.task_retry(task=Task.objects.get(id=bad.id), actor=STAFF)
    assert _steps(run) == {"root": "succeeded", "bad": "queued", "sibling": "queued", "after": "waiting"}


def test_the_order_workflow_is_fail_fast() -> None:
    assert get_workflow("order").fail_fast is True
    assert get_workflow("order").as_dict()["fail_fast"] is True


def test_a_run_started_before_fail_fast_existed_keeps_its_definition() -> None:
    run = services.run_start(workflow="test-fail-fast")
    definition = {k: v for k, v in run.definition.items() if k != "fail_fast"}
    WorkflowRun.objects.filter(id=run.id).update(definition=definition)
    _run_root(run)
    bad = claim_one()
    services.task_fail(task_id=bad.id, error="boom", retryable=False, lease_token=bad.lease_token)
    assert _steps(run)["sibling"] == "queued"
