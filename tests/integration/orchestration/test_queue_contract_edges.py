"""The queue's contract, part three: the edges the first two parts left open, found by `make mutate`
(a mutant of either implementation that every other test let through). Held against both
implementations as in tests/integration/orchestration/test_queue_contract.py.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from orchestration import queue
from orchestration.limits import parse_limits
from orchestration.models import AgentRun, RunStatus, Task, TaskStatus
from orchestration.queue_shared import StepCompletion
from tests.support.queue_contract import IMPLEMENTATIONS, a_run, claimed_ids, complete, load, plain, running

pytestmark = pytest.mark.django_db


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return load(request.param)


@pytest.fixture(params=["limited", "unlimited"])
def limits(request: pytest.FixtureRequest, settings: Any) -> str:
    """A claim with the default concurrency limits, and one of a deployment that sets none
    (ENGINE_CONCURRENCY_LIMITS=""), which the claim takes by another path."""
    if request.param == "unlimited":
        settings.ORCHESTRATION = {**settings.ORCHESTRATION, "CONCURRENCY_LIMITS": parse_limits("")}
    return request.param


# --- claim -----------------------------------------------------------------------------------


def test_a_claim_takes_the_task_due_first_before_an_older_one_due_later(impl, clock, limits) -> None:
    now = clock.now()
    due_later = plain(now - timedelta(seconds=1))  # the older row (lower id), due after the next
    due_first = plain(now - timedelta(seconds=5))
    assert [claimed_ids(impl, now, limit=1) for _ in range(3)] == [[due_first.id], [due_later.id], []]


def test_a_claim_takes_one_workflow_step_and_every_plain_task_with_or_without_limits(impl, clock, limits) -> None:
    now = clock.now()
    _, steps = a_run(now, {"a": [], "b": []})
    first, second = plain(now), plain(now)
    claimed = impl.claim(limit=10, worker="w", now=now)
    assert [t.id for t in claimed] == [steps["a"].id, first.id, second.id]
    assert [(t.step, t.attempt, t.timeout_seconds) for t in claimed] == [("a", 1, 60.0), ("", 1, 30.0), ("", 1, 30.0)]
    assert claimed_ids(impl, now) == [steps["b"].id]


def test_a_claim_takes_a_workflow_step_queued_behind_plain_tasks(impl, clock, limits) -> None:
    now = clock.now()
    first, second = plain(now), plain(now)
    _, steps = a_run(now, {"a": []})
    assert sorted(claimed_ids(impl, now)) == sorted([first.id, second.id, steps["a"].id])


def test_a_claim_opens_each_attempt_with_its_tasks_action(impl, clock) -> None:
    now = clock.now()
    run, steps = a_run(now, {"a": []})
    Task.objects.filter(id=steps["a"].id).update(action="engine.echo")
    task = plain(now)
    impl.claim(limit=10, worker="w", now=now)
    opened = AgentRun.objects.order_by("task_id").values_list("task_id", "run_id", "action", "attempt", "worker")
    assert list(opened) == [(steps["a"].id, run.id, "engine.echo", 1, "w"), (task.id, None, "engine.noop", 1, "w")]


# --- inserting many --------------------------------------------------------------------------


def test_insert_tasks_stores_each_task_as_given(impl, clock) -> None:
    now = clock.now()
    later = now + timedelta(minutes=5)
    ids = impl.insert_tasks(
        action="engine.echo",
        payloads=[{"n": 1}, {"n": 2}],
        priority=3,
        run_after=later,
        max_attempts=4,
        retry={"max_attempts": 4},
        timeout_seconds=7.0,
        idempotency_key=None,
        now=now,
        concurrency_key="k",
    )
    stored = list(Task.objects.filter(id__in=ids).order_by("id"))
    fields = [(t.action, t.input, t.priority, t.run_after, t.max_attempts, t.retry, t.timeout_seconds) for t in stored]
    assert fields == [("engine.echo", {"n": n}, 3, later, 4, {"max_attempts": 4}, 7.0) for n in (1, 2)]
    assert {(t.status, t.concurrency_key, t.attempt) for t in stored} == {(TaskStatus.QUEUED, "k", 0)}


# --- completing: the fence holds one task, running ----------------------------------------------


def test_a_completion_by_attempt_number_completes_that_task_only(impl, clock) -> None:
    """HTTP agents report by attempt number: every task of a first claim is at attempt 1."""
    now = clock.now()
    reported, other = plain(now), plain(now)
    impl.claim(limit=2, worker="w", now=now)
    done = impl.complete_step(task_id=reported.id, run_id=None, output={"ok": 1}, now=now, attempt=1)
    assert done.applied
    assert Task.objects.get(id=other.id).status == TaskStatus.RUNNING
    assert AgentRun.objects.get(task_id=other.id).outcome == "running"


def test_a_completion_by_attempt_number_of_a_task_requeued_after_its_lease_ran_out_applies_nothing(impl, clock) -> None:
    """Its attempt 1 lost the lease; the recovery queued it again, still at attempt 1 until its
    next claim: attempt 1's late report must not complete the queued task."""
    now = clock.now()
    task = plain(now)
    running(impl, now, task)
    Task.objects.filter(id=task.id).update(status=TaskStatus.QUEUED, lease_token=None, lease_expires_at=None)
    late = impl.complete_step(task_id=task.id, run_id=None, output={"late": 1}, now=now, attempt=1)
    task.refresh_from_db()
    assert not late.applied
    assert (task.status, task.output) == (TaskStatus.QUEUED, None)


def test_completing_one_task_of_a_claim_leaves_the_others_of_its_lease_running(impl, clock) -> None:
    """The tasks of one claim share its lease token."""
    now = clock.now()
    first, second = plain(now), plain(now)
    claimed = impl.claim(limit=2, worker="w", now=now)
    assert len({c.lease_token for c in claimed}) == 1
    assert complete(impl, claimed[0], now).applied
    assert Task.objects.get(id=second.id).status == TaskStatus.RUNNING
    assert Task.objects.get(id=first.id).status == TaskStatus.SUCCEEDED


def test_a_renewal_extends_that_tasks_lease_only(impl, clock) -> None:
    now = clock.now()
    plain(now), plain(now)
    renewed, other = impl.claim(limit=2, worker="w", now=now)
    before = Task.objects.get(id=other.id).lease_expires_at
    assert impl.renew_lease(task_id=renewed.id, extend_seconds=600, lease_token=renewed.lease_token, attempt=None)
    assert Task.objects.get(id=other.id).lease_expires_at == before


def test_a_completed_attempt_records_no_error(impl, clock) -> None:
    now = clock.now()
    task = plain(now)
    complete(impl, running(impl, now, task), now)
    assert AgentRun.objects.filter(task_id=task.id).values_list("outcome", "error", "error_type").get() == (
        "succeeded",
        "",
        "",
    )


def test_the_completion_of_a_plain_task_reports_no_run_and_no_progress(impl, clock) -> None:
    now = clock.now()
    task = plain(now)
    done = complete(impl, running(impl, now, task), now)
    assert done == StepCompletion(
        run_status=None, applied=True, ready=0, total=0, succeeded=0, active=0, dead=[], queued=0, handoff=None
    )


def test_a_stale_step_completion_still_reports_its_runs_progress(impl, clock) -> None:
    now = clock.now()
    _, steps = a_run(now, {"a": [], "b": ["a"], "c": []})
    claimed = running(impl, now, steps["a"])
    stale = impl.complete_step(task_id=claimed.id, run_id=claimed.run_id, output={}, now=now, lease_token=uuid.uuid4())
    assert (stale.applied, stale.run_status, stale.total, stale.succeeded, stale.ready) == (
        False,
        RunStatus.RUNNING,
        3,
        0,
        0,
    )


def test_the_last_step_of_one_run_finishes_that_run_only(impl, clock) -> None:
    now = clock.now()
    run, _ = a_run(now, {"only": []})
    other, _ = a_run(now, {"x": [], "y": []})
    claimed = impl.claim(limit=1, worker="w", now=now, run_id=run.id)
    assert complete(impl, claimed[0], now).finished_run is not None
    other.refresh_from_db()
    assert (other.status, other.finished_at) == (RunStatus.RUNNING, None)


# --- the queue's face ------------------------------------------------------------------------


def test_the_face_hands_every_argument_to_the_implementation(clock) -> None:
    """Positional and keyword arguments alike (queue._call)."""
    now = clock.now()
    task = plain(now)
    [claimed] = queue.claim(limit=1, worker="w", now=now)
    assert claimed.id == task.id
    assert queue.renew_lease(task_id=task.id, extend_seconds=5, lease_token=claimed.lease_token, attempt=None)


def test_every_operation_takes_keyword_arguments_only() -> None:
    """What lets the face hand a call over as keywords: a positional argument could land on the
    wrong parameter of one implementation and the right one of the other."""
    import inspect

    for name in queue.OPERATIONS:
        for impl in (load("queue_pg"), load("queue_portable")):
            kinds = {p.kind for p in inspect.signature(getattr(impl, name)).parameters.values()}
            assert kinds <= {inspect.Parameter.KEYWORD_ONLY}, f"{impl.__name__}.{name}"


def test_queueing_a_runs_ready_steps_queues_that_runs_steps(clock) -> None:
    """What the stalled-run repair advances a run by (queue.queue_ready_steps)."""
    now = clock.now()
    run, steps = a_run(now, {"a": [], "b": ["a"]})
    Task.objects.filter(id=steps["a"].id).update(status=TaskStatus.SUCCEEDED)
    _, others = a_run(now, {"x": [], "y": ["x"]})
    Task.objects.filter(id=others["x"].id).update(status=TaskStatus.SUCCEEDED)

    progress = queue.queue_ready_steps(run.id)

    assert (progress.total, progress.succeeded, progress.ready) == (2, 1, [steps["b"].id])
    assert Task.objects.get(id=steps["b"].id).status == TaskStatus.QUEUED
    assert Task.objects.get(id=others["y"].id).status == TaskStatus.WAITING


def test_the_orms_lease_time_is_the_databases_clock_on_postgresql() -> None:
    """Leases are filtered and written by the database's time on PostgreSQL (workers' clocks may
    differ); elsewhere, and under a set clock, by the engine's."""
    from django.db.models.functions import Now

    from orchestration import clock as engine_clock
    from orchestration.queue_shared import db_now, is_postgres

    assert engine_clock.is_real()
    assert isinstance(db_now(), Now) is is_postgres()


def test_under_a_set_clock_the_orms_lease_time_is_the_engines(clock) -> None:
    from orchestration.queue_shared import db_now

    assert db_now() == clock.now()
