"""The engine's behaviour through its public services, on whichever database runs the suite."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from loadtest.faults import FaultPlan
from metrics.models import ErrorGroup
from orchestration import services
from orchestration.budget import Budget
from orchestration.conf import engine_settings
from orchestration.exceptions import IllegalTransition
from orchestration.execution import TickReport, tick
from orchestration.models import AgentRun, AttemptOutcome, OperatorAction, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.queue import claim
from orchestration.retry import RetryPolicy
from orchestration.workflows import Step, Workflow, register_workflow, unregister_workflow
from tests.actions import _CLOCK_ADVANCERS

pytestmark = pytest.mark.django_db

STAFF = services.Actor(label="test:staff")


def drain(seconds: float = 30) -> TickReport:
    return tick(budget=Budget.seconds(seconds))


def steps(run) -> dict[str, Task]:
    return {t.step: t for t in run.tasks.all()}


def test_an_enqueued_task_runs_once_and_stores_its_output() -> None:
    task = services.enqueue("engine.echo", {"n": 1})
    report = drain()
    task.refresh_from_db()
    assert (report.claimed, report.succeeded) == (1, 1)
    assert task.status == TaskStatus.SUCCEEDED
    assert task.output == {"input": {"n": 1}, "inputs": {}, "attempt": 1}
    assert list(task.agent_runs.values_list("outcome", flat=True)) == [AttemptOutcome.SUCCEEDED]


def test_enqueue_with_the_same_idempotency_key_returns_the_first_task() -> None:
    first = services.enqueue("engine.noop", idempotency_key="order-42")
    second = services.enqueue("engine.noop", idempotency_key="order-42")
    assert first.id == second.id
    assert Task.objects.count() == 1


def test_a_task_is_not_claimed_before_its_run_after(clock) -> None:
    now_task = services.enqueue("engine.noop")
    later = services.enqueue("engine.noop", run_after=clock.now() + timedelta(seconds=60))
    assert [t.id for t in claim(limit=10, worker="w", now=clock.now())] == [now_task.id]
    clock.advance(60)
    assert [t.id for t in claim(limit=10, worker="w", now=clock.now())] == [later.id]


def test_claim_order_puts_higher_priority_first(clock) -> None:
    ids = [services.enqueue("engine.noop", priority=p).id for p in (0, 9, 3)]
    first = claim(limit=1, worker="w", now=clock.now())
    assert first[0].id == ids[1]


def test_diamond_join_starts_only_after_both_branches_exactly_once() -> None:
    run = services.run_start(workflow="test-diamond")
    assert {s: t.status for s, t in steps(run).items()} == {
        "start": TaskStatus.QUEUED,
        "left": TaskStatus.WAITING,
        "right": TaskStatus.WAITING,
        "join": TaskStatus.WAITING,
    }
    drain()
    run.refresh_from_db()
    tasks = steps(run)
    assert run.status == RunStatus.SUCCEEDED
    assert tasks["join"].output["inputs"].keys() == {"left", "right"}
    assert tasks["join"].started_at >= max(tasks["left"].finished_at, tasks["right"].finished_at)
    assert AgentRun.objects.filter(task=tasks["join"]).count() == 1


def test_join_waits_while_one_branch_is_still_running(clock) -> None:
    run = services.run_start(workflow="test-diamond")
    drain_one = lambda: tick(budget=Budget.seconds(5), max_tasks=1)  # noqa: E731
    drain_one()  # start
    [first] = claim(limit=2, worker="w1", now=clock.now())
    [second] = claim(limit=2, worker="w2", now=clock.now())  # the branches run in parallel
    left, right = sorted([first, second], key=lambda t: t.step)
    services.task_complete(task_id=left.id, output={}, lease_token=left.lease_token)
    assert steps(run)["join"].status == TaskStatus.WAITING
    services.task_complete(task_id=right.id, output={}, lease_token=right.lease_token)
    assert steps(run)["join"].status == TaskStatus.QUEUED


def test_a_claim_takes_any_number_of_plain_tasks_but_one_workflow_step(clock) -> None:
    """A worker runs its batch in order: a second slow step would wait behind the first."""
    services.run_start(workflow="test-diamond")
    services.run_start(workflow="test-diamond")
    plain = services.enqueue_many("engine.noop", [{} for _ in range(3)])
    batch = claim(limit=10, worker="w", now=clock.now())
    assert [t.run_id is not None for t in batch] == [True, False, False, False], "the step first, then the rest"
    assert {t.id for t in batch[1:]} == set(plain)


def test_an_unstarted_task_that_waited_half_its_lease_behind_a_slow_one_is_handed_back(clock) -> None:
    _CLOCK_ADVANCERS["fake"] = clock.advance
    lease = engine_settings.LEASE_SECONDS
    slow = services.enqueue("test.chunks", {"chunks": 1, "cost": lease * 0.6, "_advance": "fake"}, priority=1)
    waiting = services.enqueue("engine.noop")
    report = tick(budget=Budget.seconds(lease * 10), max_tasks=2)
    assert (report.claimed, report.succeeded, report.released) == (2, 1, 1)
    assert Task.objects.get(id=slow.id).status == TaskStatus.SUCCEEDED
    assert list(AgentRun.objects.filter(task_id=waiting.id).values_list("outcome", flat=True)) == ["released"]
    tick(budget=Budget.seconds(lease * 10))
    assert Task.objects.values_list("status", "attempt").get(id=waiting.id) == ("succeeded", 1), "no attempt spent"


def test_a_run_keeps_the_definition_version_it_started_with() -> None:
    run = services.run_start(workflow="test-versioned")
    assert run.version == 1
    register_workflow(
        Workflow(
            name="test-versioned",
            version=2,
            steps=(Step("one", "engine.echo"), Step("two", "engine.echo", needs=("one",))),
        )
    )
    try:
        newer = services.run_start(workflow="test-versioned")
        drain()
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED
        assert sorted(run.tasks.values_list("step", flat=True)) == ["only"], "v1's single step, not v2's"
        assert (newer.version, sorted(newer.tasks.values_list("step", flat=True))) == (2, ["one", "two"])
    finally:
        unregister_workflow("test-versioned", 2)


def test_the_tick_repairs_a_run_left_with_nothing_queued_after_a_crash_between_commits() -> None:
    run = services.run_start(workflow="test-diamond")
    drain()
    # As if the process died after `start` succeeded but before its completion queued the
    # branches: every step's state is right except that nobody queued the next ones.
    Task.objects.filter(run=run).exclude(step="start").update(status=TaskStatus.WAITING, output=None)
    WorkflowRun.objects.filter(id=run.id).update(status=RunStatus.RUNNING, finished_at=None)
    report = drain()
    run.refresh_from_db()
    assert report.repaired == 1
    assert run.status == RunStatus.SUCCEEDED


def test_a_retryable_error_is_retried_after_its_backoff(clock) -> None:
    task = services.enqueue("test.flaky", {"succeed_on": 2}, retry=RetryPolicy(max_attempts=3, base_seconds=10))
    drain()
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.QUEUED, 1)
    assert 5 <= (task.run_after - clock.now()).total_seconds() <= 10
    assert drain().claimed == 0, "not due before its backoff"
    clock.advance(10)
    drain()
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.SUCCEEDED, 2)
    assert list(task.agent_runs.values_list("outcome", flat=True)) == [AttemptOutcome.RETRY, AttemptOutcome.SUCCEEDED]


def test_a_permanent_error_is_not_retried() -> None:
    task = services.enqueue("test.permanent", retry=RetryPolicy(max_attempts=5))
    drain()
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.DEAD, 1)
    assert task.last_error == "the brief is invalid"


def test_an_unknown_action_dies_at_once_with_a_clear_error() -> None:
    task = services.enqueue("ghost.action")
    drain()
    task.refresh_from_db()
    assert task.status == TaskStatus.DEAD
    assert "No action is registered as 'ghost.action'" in task.last_error


def test_the_last_attempt_kills_the_task_fails_the_run_records_the_error_and_emails_staff(
    clock, django_capture_on_commit_callbacks
) -> None:
    run = services.run_start(workflow="test-fragile", input={"flag": "/nonexistent/flag"})
    with django_capture_on_commit_callbacks(execute=True):
        drain()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "Step 'c' failed: flag missing" in run.error
    assert steps(run)["c"].status == TaskStatus.DEAD
    group = ErrorGroup.objects.get(error_type="PermanentError")
    assert group.count == 1 and group.last_run_id == run.id and "fail_unless" in group.location
    assert len(mail.outbox) == 1 and "failed" in mail.outbox[0].subject


def test_a_value_error_from_a_flaky_dependency_is_retried_not_fatal(clock) -> None:
    task = services.enqueue("test.flaky_upstream", retry=RetryPolicy(max_attempts=3, base_seconds=1))
    drain()
    clock.advance(2)
    drain()
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.SUCCEEDED, 2)
    assert list(task.agent_runs.values_list("outcome", "error_type")) == [
        ("retry", "JSONDecodeError"),
        ("succeeded", ""),
    ]


def test_output_the_database_cannot_store_is_a_permanent_bug_of_the_action() -> None:
    task = services.enqueue("test.unstorable_output", retry=RetryPolicy(max_attempts=5))
    drain()
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.DEAD, 1)
    assert "cannot be stored as JSON" in task.last_error


def test_a_plain_task_that_dies_emails_staff_too(django_capture_on_commit_callbacks) -> None:
    task = services.enqueue("test.permanent")
    with django_capture_on_commit_callbacks(execute=True):
        drain()
    assert Task.objects.get(id=task.id).status == TaskStatus.DEAD
    [message] = mail.outbox
    assert message.subject.endswith(f"Task test.permanent #{task.id} failed for good")
    assert "the brief is invalid" in message.body


def test_an_unexpected_exception_is_retried_within_the_policy_and_recorded_with_its_traceback(clock) -> None:
    task = services.enqueue("test.crash", retry=RetryPolicy(max_attempts=2, base_seconds=1))
    drain()
    clock.advance(5)
    drain()
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.DEAD, 2)
    group = ErrorGroup.objects.get(error_type="RuntimeError")
    assert group.count == 2 and "unexpected bug" in group.traceback


def test_a_second_completion_of_a_task_changes_nothing(clock) -> None:
    task = services.enqueue("engine.noop")
    [claimed] = claim(limit=1, worker="w", now=clock.now())
    assert services.task_complete(task_id=task.id, output={"v": 1}, lease_token=claimed.lease_token)
    assert not services.task_complete(task_id=task.id, output={"v": 2}, lease_token=claimed.lease_token)
    task.refresh_from_db()
    assert task.output == {"v": 1}


def test_late_callback_from_old_attempt_is_recorded_but_changes_nothing(clock) -> None:
    task = services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=3, base_seconds=1), timeout_seconds=5)
    [_first] = claim(limit=1, worker="w1", now=clock.now())
    clock.advance(6)  # attempt 1's worker goes silent past its lease
    assert services.recover_expired_leases() == 1
    clock.advance(2)
    [second] = claim(limit=1, worker="w2", now=clock.now())
    assert second.attempt == 2

    applied = services.task_complete(task_id=task.id, output={"from": "attempt 1"}, attempt=1)

    assert applied is False
    task.refresh_from_db()
    assert (task.status, task.attempt, task.output) == (TaskStatus.RUNNING, 2, None)
    stale = AgentRun.objects.get(task=task, outcome=AttemptOutcome.STALE)
    assert stale.attempt == 1 and stale.detail["output"] == {"from": "attempt 1"}
    assert services.task_complete(task_id=task.id, output={"from": "attempt 2"}, attempt=2)
    task.refresh_from_db()
    assert task.output == {"from": "attempt 2"}


def test_an_expired_lease_is_recovered_and_retried_at_once(clock) -> None:
    task = services.enqueue("engine.noop", timeout_seconds=10, retry=RetryPolicy(base_seconds=60))
    claim(limit=1, worker="dead-worker", now=clock.now())
    clock.advance(9)
    assert services.recover_expired_leases() == 0, "still within its lease"
    clock.advance(2)
    assert services.recover_expired_leases() == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.QUEUED
    assert task.run_after <= clock.now(), "a dead worker costs the lease, not a backoff"
    assert AgentRun.objects.get(task=task).outcome == AttemptOutcome.TIMED_OUT
    drain()
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.SUCCEEDED, 2)


def test_a_heartbeat_extends_the_lease_so_recovery_leaves_it_alone(clock) -> None:
    task = services.enqueue("engine.noop", timeout_seconds=10)
    [claimed] = claim(limit=1, worker="w", now=clock.now())
    clock.advance(8)
    assert services.task_heartbeat(task_id=task.id, lease_token=claimed.lease_token, extend_seconds=10)
    clock.advance(8)
    assert services.recover_expired_leases() == 0
    assert services.task_complete(task_id=task.id, output={}, lease_token=claimed.lease_token)


def test_a_step_of_three_chunks_completes_in_three_one_second_invocations_with_one_attempt(clock) -> None:
    _CLOCK_ADVANCERS["fake"] = clock.advance
    task = services.enqueue("test.chunks", {"chunks": 3, "cost": 0.6, "_advance": "fake"})
    invocations = 0
    while Task.objects.get(id=task.id).status != TaskStatus.SUCCEEDED:
        invocations += 1
        report = tick(budget=Budget.seconds(1.0))
        assert report.claimed == 1 and report.failed == 0
        assert invocations <= 3
    task.refresh_from_db()
    assert invocations == 3
    assert task.attempt == 1
    assert task.output == {"chunks": [0, 1, 2]}
    outcomes = list(task.agent_runs.values_list("attempt", "outcome"))
    assert outcomes == [(1, "continued"), (1, "continued"), (1, "succeeded")]


def test_a_tick_stops_claiming_when_its_budget_runs_out_and_releases_what_it_did_not_start(clock) -> None:
    _CLOCK_ADVANCERS["fake"] = clock.advance
    tasks = [services.enqueue("test.chunks", {"chunks": 1, "cost": 2, "_advance": "fake"}) for _ in range(3)]
    report = tick(budget=Budget.seconds(1.0))
    assert (report.claimed, report.succeeded, report.released) == (3, 1, 2)
    statuses = sorted(Task.objects.filter(id__in=[t.id for t in tasks]).values_list("status", "attempt"))
    assert statuses == [("queued", 1), ("queued", 1), ("succeeded", 1)]
    tick(budget=Budget.seconds(100))
    assert set(Task.objects.values_list("status", "attempt")) == {("succeeded", 1)}, "a release spends no attempt"


def test_replay_of_a_failed_run_reruns_only_failed_and_downstream_steps_keeping_other_outputs(tmp_path) -> None:
    flag = tmp_path / "flag"
    run = services.run_start(workflow="test-fragile", input={"flag": str(flag)})
    drain()
    run.refresh_from_db()
    before = steps(run)
    assert run.status == RunStatus.FAILED
    assert {s: t.status for s, t in before.items()} == {"a": "succeeded", "b": "succeeded", "c": "dead", "d": "waiting"}
    assert services.replay_plan(run) == ["c", "d"]

    flag.write_text("fixed")
    services.run_replay(run=run, actor=STAFF)
    drain()

    run.refresh_from_db()
    after = steps(run)
    assert run.status == RunStatus.SUCCEEDED
    for kept in ("a", "b"):
        assert after[kept].finished_at == before[kept].finished_at
        assert after[kept].agent_runs.count() == 1
    assert after["c"].agent_runs.count() == 2
    assert after["c"].idempotency_key.endswith(":g2"), "redone work gets a fresh idempotency key"
    act = OperatorAction.objects.get(run=run)
    assert (act.actor_label, act.verb, act.detail["steps"]) == ("test:staff", "replay_failed", ["c", "d"])


def test_replay_from_scratch_reruns_every_step(tmp_path) -> None:
    flag = tmp_path / "flag"
    run = services.run_start(workflow="test-fragile", input={"flag": str(flag)})
    drain()
    flag.write_text("fixed")
    services.run_replay(run=run, actor=STAFF, mode="scratch")
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    succeeded = {t.step: t.agent_runs.filter(outcome="succeeded").count() for t in run.tasks.all()}
    assert succeeded == {"a": 2, "b": 2, "c": 1, "d": 1}, "everything ran again, the failed step once more"


def test_replay_from_a_chosen_step_reruns_it_and_what_follows(tmp_path) -> None:
    flag = tmp_path / "flag"
    flag.write_text("ok")
    run = services.run_start(workflow="test-fragile", input={"flag": str(flag)})
    drain()
    with pytest.raises(IllegalTransition, match="succeeded"):
        services.run_replay(run=run, actor=STAFF, mode="step", from_step="b")
    assert services.replay_plan(run, mode="step", from_step="b") == ["b", "d"]


def both_branches_dead(tmp_path):
    run = services.run_start(workflow="test-two-fragile", input={"flags": str(tmp_path)})
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert {s: t.status for s, t in steps(run).items()} == {
        "a": "succeeded",
        "left": "dead",
        "right": "dead",
        "join": "waiting",
    }
    return run


def test_replay_from_a_later_step_also_reruns_the_failed_steps_it_needs(tmp_path) -> None:
    run = both_branches_dead(tmp_path)
    assert services.replay_plan(run, mode="step", from_step="join") == ["left", "right", "join"]
    (tmp_path / "left").write_text("fixed")
    (tmp_path / "right").write_text("fixed")
    services.run_replay(run=run, actor=STAFF, mode="step", from_step="join")
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert steps(run)["a"].agent_runs.count() == 1, "the succeeded step upstream is kept"


def test_retrying_one_of_two_dead_tasks_fails_the_run_again_instead_of_leaving_it_running(tmp_path) -> None:
    run = both_branches_dead(tmp_path)
    (tmp_path / "left").write_text("fixed")
    services.task_retry(task=steps(run)["left"], actor=STAFF)
    drain()
    run.refresh_from_db()
    assert steps(run)["left"].status == TaskStatus.SUCCEEDED
    assert run.status == RunStatus.FAILED, "nothing can run while 'right' is dead: the run is failed, not stuck"
    assert "right" in run.error
    (tmp_path / "right").write_text("fixed")
    services.task_retry(task=steps(run)["right"], actor=STAFF)
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_replay_is_refused_for_a_running_run_and_changes_nothing() -> None:
    run = services.run_start(workflow="test-diamond")
    with pytest.raises(IllegalTransition, match="is running"):
        services.run_replay(run=run, actor=STAFF)
    assert not OperatorAction.objects.exists()
    assert steps(run)["start"].status == TaskStatus.QUEUED


def test_cancel_stops_a_run_and_a_late_report_from_its_running_task_is_ignored(clock) -> None:
    run = services.run_start(workflow="test-diamond")
    [claimed] = claim(limit=1, worker="w", now=clock.now())
    services.run_cancel(run=run, actor=STAFF, reason="customer asked")
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and "customer asked" in run.error
    assert set(run.tasks.values_list("status", flat=True)) == {TaskStatus.CANCELLED}
    assert not services.task_complete(task_id=claimed.id, output={}, lease_token=claimed.lease_token)
    with pytest.raises(IllegalTransition, match="only a running run can be cancelled"):
        services.run_cancel(run=run, actor=STAFF)
    assert OperatorAction.objects.filter(verb="cancel_run").count() == 1


def test_retry_task_revives_a_dead_task_and_its_run(tmp_path) -> None:
    flag = tmp_path / "flag"
    run = services.run_start(workflow="test-fragile", input={"flag": str(flag)})
    drain()
    dead = steps(run)["c"]
    flag.write_text("fixed")
    services.task_retry(task=dead, actor=STAFF)
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    with pytest.raises(IllegalTransition, match="only a dead task"):
        services.task_retry(task=steps(run)["c"], actor=STAFF)


def test_start_with_the_same_idempotency_key_gives_one_run() -> None:
    first = services.run_start(workflow="test-diamond", idempotency_key="paid:cs_1")
    second = services.run_start(workflow="test-diamond", idempotency_key="paid:cs_1")
    assert first.id == second.id
    assert Task.objects.count() == 4


def test_a_fault_plan_is_a_pure_function_of_seed_task_and_attempt() -> None:
    plan = FaultPlan(seed=7, failure_rate=0.3, kill_rate=0.1)
    decisions = [plan.decide(task_id=t, attempt=1, max_attempts=3) for t in range(2000)]
    assert decisions == [plan.decide(task_id=t, attempt=1, max_attempts=3) for t in range(2000)]
    share = {f: decisions.count(f) / len(decisions) for f in ("kill", "retryable", "permanent")}
    assert 0.07 < share["kill"] < 0.13
    assert 0.22 < share["retryable"] + share["permanent"] < 0.32
    assert all(plan.decide(task_id=t, attempt=3, max_attempts=3) is None for t in range(200)), "last attempt spared"
