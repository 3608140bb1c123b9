"""The queue's contract, part two: completing (a claim's batch, a workflow step), closing
attempts, renewing leases, and what recovery and idle workers ask, held against both
implementations as in tests/integration/orchestration/test_queue_contract.py.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import ModuleType

import pytest
from django.utils import timezone

from orchestration.models import AgentRun, RunStatus, Task, TaskStatus, WorkflowRun
from tests.support.queue_contract import IMPLEMENTATIONS, a_run, complete, load, plain, postgres_only, running

pytestmark = pytest.mark.django_db


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return load(request.param)


# --- complete_claimed ------------------------------------------------------------------------


def test_a_batch_completion_applies_to_the_holders_only_and_closes_their_attempts(impl, clock) -> None:
    now = clock.now()
    held, lost = plain(now), plain(now)
    claimed = impl.claim(limit=2, worker="w", now=now)
    token = claimed[0].lease_token
    Task.objects.filter(id=lost.id).update(lease_token=uuid.uuid4())  # recovered and claimed again
    clock.advance(2)
    done = impl.complete_claimed(outputs={held.id: {"ok": 1}, lost.id: {"ok": 2}}, lease_token=token, now=clock.now())
    assert done == [held.id]
    held.refresh_from_db()
    assert (held.status, held.output, held.finished_at, held.lease_token, held.lease_expires_at, held.cursor) == (
        TaskStatus.SUCCEEDED,
        {"ok": 1},
        clock.now(),
        None,
        None,
        None,
    )
    assert Task.objects.get(id=lost.id).status == TaskStatus.RUNNING
    attempts = {a.task_id: a for a in AgentRun.objects.all()}
    assert (attempts[held.id].outcome, attempts[held.id].finished_at, attempts[held.id].duration_ms) == (
        "succeeded",
        clock.now(),
        2000,
    )
    assert attempts[lost.id].outcome == "running"


def test_a_batch_completion_under_another_token_or_of_nothing_changes_nothing(impl, clock) -> None:
    task = plain(clock.now())
    running(impl, clock.now(), task)
    assert impl.complete_claimed(outputs={task.id: {}}, lease_token=uuid.uuid4(), now=clock.now()) == []
    assert impl.complete_claimed(outputs={}, lease_token=uuid.uuid4(), now=clock.now()) == []
    assert Task.objects.get(id=task.id).status == TaskStatus.RUNNING


# --- complete_step ---------------------------------------------------------------------------


def test_completing_a_plain_task_applies_it_and_closes_its_attempt(impl, clock) -> None:
    task = plain(clock.now())
    claimed = running(impl, clock.now(), task)
    result = complete(impl, claimed, clock.now(), {"n": 1})
    assert (result.applied, result.run_status, result.ready, result.queued, result.finished_run) == (
        True,
        None,
        0,
        0,
        None,
    )
    task.refresh_from_db()
    assert (task.status, task.output, task.finished_at, task.lease_token) == (
        TaskStatus.SUCCEEDED,
        {"n": 1},
        clock.now(),
        None,
    )
    assert AgentRun.objects.get(task=task).outcome == "succeeded"


def test_a_completion_from_a_stale_token_or_attempt_changes_nothing(impl, clock) -> None:
    task = plain(clock.now())
    claimed = running(impl, clock.now(), task)
    assert not complete(impl, claimed, clock.now(), lease_token=uuid.uuid4()).applied
    assert not complete(impl, claimed, clock.now(), attempt=claimed.attempt + 1).applied
    assert not complete(impl, claimed, clock.now(), lease_token=claimed.lease_token, attempt=0).applied
    task.refresh_from_db()
    assert (task.status, task.lease_token) == (TaskStatus.RUNNING, claimed.lease_token)
    assert AgentRun.objects.get(task=task).outcome == "running"
    assert complete(impl, claimed, clock.now(), attempt=claimed.attempt).applied, "the attempt alone fences too"


def test_a_step_completion_queues_the_steps_it_made_ready_and_no_others(impl, clock) -> None:
    now = clock.now()
    run, steps = a_run(now, {"a": [], "b": [], "after_a": ["a"], "join": ["a", "b"]})
    claimed = impl.claim(limit=1, worker="w", now=now)[0]
    assert claimed.step == "a"
    clock.advance(1)
    result = complete(impl, claimed, clock.now())
    assert (result.applied, result.run_status, result.ready, result.queued, result.handoff) == (
        True,
        RunStatus.RUNNING,
        1,
        1,
        None,
    )
    assert (result.total, result.succeeded, result.active, result.dead, result.finished_run) == (4, 1, 1, [], None)
    statuses = dict(Task.objects.filter(run=run).values_list("step", "status"))
    assert statuses == {"a": "succeeded", "b": "queued", "after_a": "queued", "join": "waiting"}
    assert Task.objects.get(id=steps["after_a"].id).run_after == clock.now(), "due at once"


def test_the_last_steps_completion_finishes_the_run(impl, clock) -> None:
    run, _ = a_run(clock.now(), {"only": []})
    claimed = impl.claim(limit=1, worker="w", now=clock.now())[0]
    result = complete(impl, claimed, clock.now())
    assert result.finished_run is not None and result.finished_run.id == run.id
    assert (result.finished_run.status, result.total, result.succeeded, result.ready) == (RunStatus.SUCCEEDED, 1, 1, 0)
    run.refresh_from_db()
    assert (run.status, run.finished_at, run.error) == (RunStatus.SUCCEEDED, clock.now(), "")


def test_a_step_completion_reports_the_dead_steps_and_what_is_still_active(impl, clock) -> None:
    run, steps = a_run(clock.now(), {"a": [], "b": [], "c": [], "d": ["a", "b"]})
    Task.objects.filter(id__in=[steps["b"].id]).update(status=TaskStatus.DEAD)
    Task.objects.filter(id__in=[steps["c"].id]).update(status=TaskStatus.CANCELLED)
    claimed = impl.claim(limit=1, worker="w", now=clock.now())[0]
    result = complete(impl, claimed, clock.now())
    assert (result.applied, result.ready, result.active, result.dead, result.finished_run) == (
        True,
        0,
        0,
        ["b", "c"],
        None,
    )
    assert WorkflowRun.objects.get(id=run.id).status == RunStatus.RUNNING, "failing the run is the caller's"


def test_a_step_of_a_run_no_longer_running_completes_but_readies_nothing(impl, clock) -> None:
    run, steps = a_run(clock.now(), {"a": [], "b": ["a"]})
    claimed = impl.claim(limit=1, worker="w", now=clock.now())[0]
    WorkflowRun.objects.filter(id=run.id).update(status=RunStatus.FAILED)
    result = complete(impl, claimed, clock.now())
    assert (result.applied, result.run_status, result.ready, result.queued, result.finished_run) == (
        True,
        RunStatus.FAILED,
        0,
        0,
        None,
    )
    assert Task.objects.get(id=steps["b"].id).status == TaskStatus.WAITING


def test_a_stale_step_completion_readies_nothing(impl, clock) -> None:
    _, steps = a_run(clock.now(), {"a": [], "b": ["a"]})
    claimed = impl.claim(limit=1, worker="w", now=clock.now())[0]
    result = complete(impl, claimed, clock.now(), lease_token=uuid.uuid4())
    assert (result.applied, result.run_status, result.ready, result.queued) == (False, RunStatus.RUNNING, 0, 0)
    assert Task.objects.get(id=steps["b"].id).status == TaskStatus.WAITING


def test_a_completion_naming_a_run_that_does_not_exist_says_so(impl, clock) -> None:
    task = plain(clock.now())
    claimed = running(impl, clock.now(), task)
    result = impl.complete_step(
        task_id=task.id, run_id=uuid.uuid4(), output={}, now=clock.now(), lease_token=claimed.lease_token
    )
    assert result.run_status is None


def test_without_a_worker_to_hand_it_to_the_ready_step_is_queued_for_any(impl, clock) -> None:
    _, steps = a_run(clock.now(), {"a": [], "b": ["a"]})
    claimed = impl.claim(limit=1, worker="w", now=clock.now())[0]
    assert complete(impl, claimed, clock.now()).handoff is None
    assert Task.objects.get(id=steps["b"].id).status == TaskStatus.QUEUED


@pytest.mark.parametrize(
    "module",
    [
        pytest.param("queue_pg", marks=postgres_only),
        pytest.param(
            "queue_portable",
            marks=pytest.mark.skip(
                reason="the handoff is queue_pg's shortcut (one statement instead of a claim); the portable "
                "queue leaves the ready step queued for the next claim, which takes the same step"
            ),
        ),
    ],
)
def test_the_worker_that_asks_is_handed_the_step_its_next_claim_would_take(module, clock) -> None:
    impl = load(module)
    _, steps = a_run(clock.now(), {"a": [], "b": ["a"]})
    claimed = impl.claim(limit=1, worker="w", now=clock.now())[0]
    result = impl.complete_step(
        task_id=claimed.id,
        run_id=claimed.run_id,
        output={"k": 1},
        now=clock.now(),
        lease_token=claimed.lease_token,
        handoff_to="w2",
    )
    assert result.handoff is not None and result.handoff.id == steps["b"].id
    assert (result.ready, result.queued, result.handoff.inputs) == (1, 0, {"a": {"k": 1}})
    b = Task.objects.get(id=steps["b"].id)
    assert (b.status, b.claimed_by, b.lease_token, b.attempt) == (
        TaskStatus.RUNNING,
        "w2",
        result.handoff.lease_token,
        1,
    )
    assert AgentRun.objects.get(task=b).outcome == "running"


# --- close_attempts --------------------------------------------------------------------------


def test_closing_attempts_closes_the_open_ones_of_the_fence_only(impl, clock) -> None:
    now = clock.now()
    first, second = plain(now), plain(now)
    token = impl.claim(limit=2, worker="w", now=now)[0].lease_token
    other = AgentRun.objects.create(
        task=first, action="engine.noop", attempt=1, lease_token=uuid.uuid4(), started_at=now
    )
    clock.advance(1.5)
    impl.close_attempts(
        task_ids=[first.id],
        outcome="failed",
        now=clock.now(),
        lease_token=token,
        attempt=1,
        error="boom",
        error_type="ValueError",
        detail={"at": "step"},
    )
    closed = AgentRun.objects.get(task=first, lease_token=token)
    assert (closed.outcome, closed.finished_at, closed.duration_ms, closed.error, closed.error_type, closed.detail) == (
        "failed",
        clock.now(),
        1500,
        "boom",
        "ValueError",
        {"at": "step"},
    )
    assert AgentRun.objects.get(id=other.id).outcome == "running", "another claim's attempt"
    assert AgentRun.objects.get(task=second).outcome == "running", "a task not named"


def test_closing_attempts_by_number_spares_the_others_and_an_empty_list_closes_nothing(impl, clock) -> None:
    now = clock.now()
    task = plain(now)
    AgentRun.objects.create(task=task, action="engine.noop", attempt=1, started_at=now)
    AgentRun.objects.create(task=task, action="engine.noop", attempt=2, started_at=now)
    impl.close_attempts(task_ids=[], outcome="failed", now=now)
    impl.close_attempts(task_ids=[task.id], outcome="retry", now=now, attempt=2)
    assert dict(AgentRun.objects.values_list("attempt", "outcome")) == {1: "running", 2: "retry"}
    impl.close_attempts(task_ids=[task.id], outcome="released", now=now)
    assert set(AgentRun.objects.values_list("outcome", flat=True)) == {"released", "retry"}


# --- renew_lease -----------------------------------------------------------------------------


def test_a_renewal_extends_the_holders_lease_from_now(impl, clock) -> None:
    task = plain(clock.now(), timeout_seconds=10.0)
    claimed = running(impl, clock.now(), task)
    clock.advance(8)
    expires = impl.renew_lease(task_id=task.id, extend_seconds=30, lease_token=claimed.lease_token, attempt=None)
    assert expires == clock.now() + timedelta(seconds=30)
    assert Task.objects.get(id=task.id).lease_expires_at == expires
    again = impl.renew_lease(task_id=task.id, extend_seconds=5, lease_token=None, attempt=claimed.attempt)
    assert again == expires, "a renewal never shortens a lease"


def test_a_renewal_by_a_lost_attempt_returns_none_and_changes_nothing(impl, clock) -> None:
    task = plain(clock.now())
    claimed = running(impl, clock.now(), task)
    before = Task.objects.get(id=task.id).lease_expires_at
    assert impl.renew_lease(task_id=task.id, extend_seconds=300, lease_token=uuid.uuid4(), attempt=None) is None
    assert impl.renew_lease(task_id=task.id, extend_seconds=300, lease_token=claimed.lease_token, attempt=9) is None
    Task.objects.filter(id=task.id).update(status=TaskStatus.CANCELLED)
    assert impl.renew_lease(task_id=task.id, extend_seconds=300, lease_token=claimed.lease_token, attempt=None) is None
    assert Task.objects.get(id=task.id).lease_expires_at == before


# --- expired_leases, work_in_hand, next_due_at, seconds_until_next_due -----------------------


def test_expired_leases_are_the_running_tasks_past_their_expiry_longest_expired_first(impl, clock) -> None:
    now = clock.now()
    token = uuid.uuid4()
    lease = {"status": TaskStatus.RUNNING, "lease_token": token}
    recent = plain(now, lease_expires_at=now - timedelta(seconds=1), **lease)
    oldest = plain(now, lease_expires_at=now - timedelta(seconds=60), **lease)
    plain(now, lease_expires_at=now, **lease)  # expires this very instant: not yet
    plain(now, lease_expires_at=now + timedelta(seconds=60), **lease)
    plain(now, status=TaskStatus.CANCELLED, lease_expires_at=now - timedelta(seconds=90))
    assert impl.expired_leases() == [(oldest.id, token), (recent.id, token)]
    assert impl.expired_leases(limit=1) == [(oldest.id, token)]


def test_work_in_hand_is_due_queued_work_or_running_work(impl, clock) -> None:
    assert impl.work_in_hand() is False
    later = plain(clock.now() + timedelta(seconds=30))
    plain(clock.now(), status=TaskStatus.WAITING)
    assert impl.work_in_hand() is False
    clock.advance(30)
    assert impl.work_in_hand() is True
    Task.objects.filter(id=later.id).update(status=TaskStatus.RUNNING, run_after=clock.now() + timedelta(days=1))
    assert impl.work_in_hand() is True


def test_next_due_at_is_the_earliest_queued_due_time(impl, clock) -> None:
    assert impl.next_due_at() is None
    assert impl.seconds_until_next_due() is None
    now = clock.now()
    plain(now + timedelta(seconds=60))
    plain(now + timedelta(seconds=20))
    plain(now - timedelta(seconds=5), status=TaskStatus.RUNNING)
    assert impl.next_due_at() == now + timedelta(seconds=20)
    assert impl.seconds_until_next_due() == 20.0


def test_seconds_until_next_due_reads_the_databases_clock(impl) -> None:
    plain(timezone.now() + timedelta(seconds=60))
    seconds = impl.seconds_until_next_due()
    assert 55 < seconds <= 60
