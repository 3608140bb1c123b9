"""Fault injection (loadtest/faults.py, through the engine's seam orchestration/faults.py): each
fault hits its attempt once, the way the load test's verdict assumes; hangs are tested on a fake
clock, kills in a real worker process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django import db
from django.db import connection

from loadtest import faults
from loadtest.faults import HANG, KILL, FaultPlan, drop_connection
from orchestration import services
from orchestration.budget import Budget
from orchestration.execution import execute
from orchestration.faults import fault_hook
from orchestration.models import AgentRun, AttemptOutcome, Task, TaskStatus
from orchestration.queue import ClaimedTask, claim
from orchestration.retry import RetryPolicy
from tests.actions import _CLOCK_ADVANCERS
from tests.conftest import FakeClock, start_worker

LEASE = 5.0


@pytest.fixture
def with_plan(settings: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Install a fault plan in this process, with fault waits moving the fake clock instead of sleeping."""
    monkeypatch.setattr(faults, "sleep", clock.advance)
    _CLOCK_ADVANCERS["faults"] = clock.advance

    def install(plan: FaultPlan | None) -> None:
        settings.ORCHESTRATION = {
            **settings.ORCHESTRATION,
            "FAULTS": plan.to_json() if plan else "",
            "LEASE_SECONDS": LEASE,
        }
        fault_hook.cache_clear()

    yield install
    fault_hook.cache_clear()
    _CLOCK_ADVANCERS.pop("faults", None)


def chunked_task(*, timeout: float, chunks: int = 3) -> Task:
    return services.enqueue(
        "test.chunks",
        {"chunks": chunks, "cost": 0.5, "_advance": "faults"},
        timeout_seconds=timeout,
        retry=RetryPolicy(max_attempts=3, base_seconds=1),
    )


def claim_one(clock: FakeClock) -> ClaimedTask:
    (claimed,) = claim(limit=1, worker="test", now=clock.now())
    return claimed


def outcomes(task: Task) -> list[tuple[int, str]]:
    return list(task.agent_runs.order_by("id").values_list("attempt", "outcome"))


def test_a_plan_spares_hangs_on_steps_whose_timeout_exceeds_its_cap() -> None:
    plan = FaultPlan(seed=3, hang_rate=1.0, max_hang_seconds=65)
    assert plan.fault_for(task_id=1, attempt=1, max_attempts=3, timeout_seconds=30) == HANG
    assert plan.fault_for(task_id=1, attempt=1, max_attempts=3, timeout_seconds=170) is None
    assert plan.fault_for(task_id=1, attempt=3, max_attempts=3, timeout_seconds=30) is None, "last attempt spared"


def test_a_plan_refuses_rates_and_waits_out_of_range() -> None:
    with pytest.raises(ValueError, match="kill_rate"):
        FaultPlan(kill_rate=1.5)
    with pytest.raises(ValueError, match="kill_wait_seconds"):
        FaultPlan(kill_wait_seconds=0)


def test_a_plan_survives_its_json_round_trip_and_ignores_unknown_fields() -> None:
    plan = FaultPlan(seed=9, failure_rate=0.3, hang_rate=0.01, max_hang_seconds=40)
    data = {**json.loads(plan.to_json()), "from_a_newer_version": True}
    assert FaultPlan.from_json(json.dumps(data)) == plan


@pytest.mark.django_db
def test_a_hang_outlasts_the_steps_timeout_not_the_ticks_budget_and_is_recovered_as_timed_out(
    clock: FakeClock, with_plan: Any
) -> None:
    with_plan(FaultPlan(seed=1, hang_rate=1.0))
    task = chunked_task(timeout=30)
    claimed = claim_one(clock)
    started = clock.now()

    report = execute(claimed, budget=Budget.seconds(2))  # a tick with 2 s left: the old hang slept 3 s

    hung_for = (clock.now() - started).total_seconds()
    assert hung_for >= 30 + LEASE, f"the hang lasted {hung_for} s, not past the step's 30 s timeout"
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.QUEUED, 1), "recovered: the next claim is attempt 2"
    assert outcomes(task) == [(1, AttemptOutcome.TIMED_OUT), (1, AttemptOutcome.STALE)]
    assert report.stale == 1, "the hung attempt's own late failure report was fenced off"


@pytest.mark.django_db
def test_a_continuation_of_a_faulted_attempt_never_meets_the_fault_again(clock: FakeClock, with_plan: Any) -> None:
    with_plan(None)
    task = chunked_task(timeout=30, chunks=3)
    first = claim_one(clock)
    assert execute(first, budget=Budget.seconds(0.6)).continued == 1, "one chunk, then a checkpoint"
    with_plan(FaultPlan(seed=1, hang_rate=1.0))  # attempt 1 is doomed to hang, but it has started already
    before = clock.now()

    report = execute(claim_one(clock), budget=Budget.seconds(100))

    assert report.succeeded == 1
    assert (clock.now() - before).total_seconds() == pytest.approx(1.0), "two chunks of 0.5 s, no hang"
    assert outcomes(task) == [(1, AttemptOutcome.CONTINUED), (1, AttemptOutcome.SUCCEEDED)]


@pytest.mark.django_db
def test_a_doomed_chunked_step_hangs_once_then_its_next_attempt_finishes(clock: FakeClock, with_plan: Any) -> None:
    """The loop the audit found: a hang capped by the tick's budget, a checkpoint, the same hang again."""
    with_plan(FaultPlan(seed=1, hang_rate=1.0))
    task = chunked_task(timeout=30, chunks=3)
    for _ in range(6):
        task.refresh_from_db()
        if task.status == TaskStatus.SUCCEEDED:
            break
        execute(claim_one(clock), budget=Budget.seconds(0.6))
    task.refresh_from_db()
    assert task.status == TaskStatus.SUCCEEDED
    hangs = [a for a, outcome in outcomes(task) if outcome == AttemptOutcome.TIMED_OUT]
    assert hangs == [1, 2], "each attempt but the last hung exactly once; the last one ran clean"


@pytest.mark.django_db
def test_a_hang_is_spared_on_a_step_longer_than_the_plans_cap(clock: FakeClock, with_plan: Any) -> None:
    with_plan(FaultPlan(seed=1, hang_rate=1.0, max_hang_seconds=65))
    task = chunked_task(timeout=170, chunks=1)
    before = clock.now()

    assert execute(claim_one(clock), budget=Budget.seconds(100)).succeeded == 1

    assert (clock.now() - before).total_seconds() == pytest.approx(0.5)
    assert outcomes(task) == [(1, AttemptOutcome.SUCCEEDED)]


@pytest.mark.django_db
@pytest.mark.parametrize(("rate", "error"), [("failure_rate", "RetryableError"), ("permanent_share", "PermanentError")])
def test_failure_faults_raise_the_planned_error(clock: FakeClock, with_plan: Any, rate: str, error: str) -> None:
    with_plan(FaultPlan(seed=1, failure_rate=1.0, permanent_share=1.0 if rate == "permanent_share" else 0.0))
    task = chunked_task(timeout=30, chunks=1)
    execute(claim_one(clock), budget=Budget.seconds(100))
    run = AgentRun.objects.get(task=task)
    assert (run.error_type, run.outcome) == (
        error,
        AttemptOutcome.FAILED if error == "PermanentError" else AttemptOutcome.RETRY,
    )


@pytest.mark.django_db
def test_a_spared_action_is_never_faulted_though_the_plan_dooms_its_attempt(clock: FakeClock, with_plan: Any) -> None:
    with_plan(FaultPlan(seed=1, failure_rate=1.0, permanent_share=1.0, spared_actions=("test.chunks",)))
    task = chunked_task(timeout=30, chunks=1)
    assert execute(claim_one(clock), budget=Budget.seconds(100)).succeeded == 1
    assert outcomes(task) == [(1, AttemptOutcome.SUCCEEDED)]
    assert FaultPlan.from_json(fault_hook().plan.to_json()).spared_actions == ("test.chunks",), "a tuple after JSON"


@pytest.mark.django_db(transaction=True)
def test_a_dropped_connection_fails_the_next_query_and_a_reconnect_heals_it() -> None:
    Task.objects.count()  # connected
    drop_connection()
    with pytest.raises(db.Error):
        Task.objects.count()
    connection.close()
    assert Task.objects.count() == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_doomed_worker_holds_its_task_while_waiting_for_the_driver_then_kills_itself() -> None:
    plan = FaultPlan(seed=1, kill_rate=1.0, kill_wait_seconds=1.0)
    task = services.enqueue("test.record", {}, retry=RetryPolicy(max_attempts=3))
    assert plan.decide(task_id=task.id, attempt=1, max_attempts=3) == KILL
    worker = start_worker(ENGINE_FAULTS=plan.to_json(), ENGINE_LEASE_SECONDS="3")
    try:
        deadline = time.monotonic() + 60
        while worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert worker.returncode == -9, worker.stdout.read() if worker.stdout else ""
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=10)
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.RUNNING, 1), "it died holding the lease: recovery's job"
    assert outcomes(task) == [(1, AttemptOutcome.RUNNING)]


def test_a_new_fault_plan_in_the_settings_is_read_afresh(settings) -> None:
    from orchestration.faults import fault_hook

    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "FAULTS": ""}
    assert fault_hook() is None
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "FAULTS": '{"seed": 1, "failure_rate": 1.0}'}
    assert fault_hook() is not None
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "FAULTS": ""}
    assert fault_hook() is None
