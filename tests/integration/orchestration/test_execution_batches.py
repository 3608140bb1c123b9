"""A claimed batch as the inline executor runs it: every attempt's lease renewed while it runs and
let go once its outcome is written (a deferred success held past its timeout until its batch
completes, and let go on the way out of a batch that fails), and each outcome counted once, the
step's and the batched plain tasks' alike."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import DatabaseError

from orchestration import execution, heartbeat, services
from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.heartbeat import heartbeater
from orchestration.models import AgentRun, Task
from orchestration.registry import TaskContext, action
from orchestration.workflows import Step, Workflow, register_workflow
from tests.actions import _CLOCK_ADVANCERS

pytestmark = pytest.mark.django_db

# task id -> whether its attempt's lease was being renewed while it ran
WATCHED: dict[int, bool] = {}
# what the second action of a batch saw of the first one's lease: whether it is still renewed
HELD: dict[str, Any] = {}


def lease_of(task_id: int) -> uuid.UUID:
    return Task.objects.values_list("lease_token", flat=True).get(id=task_id)


@action("test.execution_watch_lease")
def watch_lease(ctx: TaskContext) -> dict[str, Any]:
    WATCHED[ctx.task_id] = lease_of(ctx.task_id) in heartbeater.tracked_tokens()
    return {}


@action("test.execution_lose_lease")
def lose_lease(ctx: TaskContext) -> dict[str, Any]:
    """Another worker holds the task by the time this attempt reports (its lease was recovered)."""
    Task.objects.filter(id=ctx.task_id).update(lease_token=uuid.uuid4())
    return {}


@action("test.execution_look_back")
def look_back(ctx: TaskContext) -> dict[str, Any]:
    """Long after the batch's first task finished, past that task's timeout: is it still renewed?"""
    HELD["clock"].advance(HELD["wait"])
    HELD["renewed"] = [lease for lease, _ in heartbeater.due()]
    return {}


register_workflow(
    Workflow(name="test-execution-watched", version=1, steps=(Step("only", "test.execution_watch_lease"),))
)
register_workflow(Workflow(name="test-execution-lost", version=1, steps=(Step("only", "test.execution_lose_lease"),)))


@pytest.fixture(autouse=True)
def _forget() -> None:
    WATCHED.clear()
    HELD.clear()


def tracked_attempts() -> set[uuid.UUID]:
    return set(AgentRun.objects.values_list("lease_token", flat=True)) & heartbeater.tracked_tokens()


def test_each_attempts_lease_is_renewed_while_it_runs_and_let_go_once_its_outcome_is_written(clock) -> None:
    run = services.run_start(workflow="test-execution-watched")
    plain = services.enqueue_many("test.execution_watch_lease", [{}, {}])
    report = tick(budget=Budget.seconds(30))
    step = Task.objects.get(run=run).id
    assert (report.claimed, report.succeeded) == (3, 3)
    assert {step: True, plain[0]: True, plain[1]: True} == WATCHED
    assert not tracked_attempts(), "the step's and the batched tasks' leases are let go"


def test_a_batched_success_is_renewed_past_its_timeout_until_its_batch_completes(clock, monkeypatch) -> None:
    """It is done, but not yet written: were its lease to run out meanwhile, another worker would
    recover it and run it again."""
    mono = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(heartbeat, "time", SimpleNamespace(monotonic=lambda: mono.now, sleep=time.sleep))
    HELD.update(clock=SimpleNamespace(advance=lambda s: setattr(mono, "now", mono.now + s)), wait=60.0)
    first = services.enqueue("test.execution_watch_lease", timeout_seconds=5, priority=1)
    services.enqueue("test.execution_look_back")
    report = tick(budget=Budget.seconds(30))
    assert (report.claimed, report.succeeded) == (2, 2)
    [token] = AgentRun.objects.filter(task_id=first.id).values_list("lease_token", flat=True)
    assert (first.id, token) in HELD["renewed"]
    assert not tracked_attempts()


def test_a_batch_that_fails_on_the_way_lets_go_of_the_successes_it_was_holding(clock, monkeypatch) -> None:
    def database_gone(**kwargs: Any) -> bool:
        raise DatabaseError("the database went away")

    services.enqueue("engine.noop", priority=1)
    services.enqueue("test.crash")
    monkeypatch.setattr(services, "task_fail", database_gone)
    with pytest.raises(DatabaseError):
        tick(budget=Budget.seconds(30))
    assert not tracked_attempts()


def test_a_steps_and_its_batchs_plain_successes_are_each_counted_once(clock) -> None:
    services.run_start(workflow="test-execution-watched")
    services.enqueue_many("engine.noop", [{}, {}])
    report = tick(budget=Budget.seconds(30))
    assert (report.claimed, report.succeeded, report.stale) == (3, 3, 0)


@pytest.mark.parametrize("plain", [0, 2], ids=["alone", "with-plain-tasks"])
def test_a_step_that_reports_after_losing_its_lease_is_counted_stale_not_succeeded(clock, plain: int) -> None:
    """Alone, its completion may hand this worker the next step; in a batch it is completed on its
    own before the plain tasks' batched completion: both paths count it the same."""
    services.run_start(workflow="test-execution-lost")
    services.enqueue_many("engine.noop", [{} for _ in range(plain)])
    report = tick(budget=Budget.seconds(30))
    assert (report.claimed, report.succeeded, report.stale) == (1 + plain, plain, 1)


def test_a_lone_steps_success_counts_once_and_a_batched_plain_report_after_a_lost_lease_counts_stale(clock) -> None:
    """The step is the last of its batch (its completion may hand this worker the next step); the
    plain task's success waits for the batch's completion, which finds the lease gone."""
    services.run_start(workflow="test-execution-watched")
    report = tick(budget=Budget.seconds(30))
    assert (report.claimed, report.succeeded, report.stale) == (1, 1, 0)
    services.enqueue("test.execution_lose_lease")
    report = tick(budget=Budget.seconds(30))
    assert (report.claimed, report.succeeded, report.stale) == (1, 0, 1)


@action("test.execution_takes")
def takes(ctx: TaskContext) -> dict[str, Any]:
    """Takes `seconds` of the executor's monotonic time (moved by the test, not slept)."""
    HELD["mono"].now += ctx.input["seconds"]
    return {}


def test_batched_successes_are_completed_together_each_time_they_have_waited_50_ms(clock, monkeypatch) -> None:
    """The first success of a flush starts the wait; once the wait reaches 50 ms (exactly, too) the
    ones done so far are completed in one statement, and the next success starts a new wait."""
    # 0.0625 + 0.05 - 0.0625 is 0.05 exactly in floating point: the wait reaches the limit itself.
    mono = HELD["mono"] = SimpleNamespace(now=0.0625)
    monkeypatch.setattr(execution, "time", SimpleNamespace(monotonic=lambda: mono.now))
    flushed: list[list[int]] = []
    complete_batch = services.task_complete_batch

    def recording(*, outputs: dict[int, Any], lease_token: uuid.UUID) -> int:
        flushed.append(sorted(outputs))
        return complete_batch(outputs=outputs, lease_token=lease_token)

    monkeypatch.setattr(services, "task_complete_batch", recording)
    ids = services.enqueue_many("test.execution_takes", [{"seconds": s} for s in (0.0, 0.05, 1.0, 0.01)])
    report = tick(budget=Budget.seconds(30))
    assert (report.claimed, report.succeeded) == (4, 4)
    # The second task finishes 0.05 s after the first did: the two go together. The third starts a
    # new wait however long it took itself, and the last two are completed at the end.
    assert flushed == [ids[:2], ids[2:]]


def test_a_tick_counts_every_claim_it_makes_and_claims_no_more_than_max_tasks(clock) -> None:
    """A claim takes one workflow step: three runs' steps take three claims, two within max_tasks=2."""
    for _ in range(3):
        services.run_start(workflow="test-execution-watched")
    report = tick(budget=Budget.seconds(30), max_tasks=2)
    assert (report.claimed, report.succeeded) == (2, 2)
    report = tick(budget=Budget.seconds(30))
    assert (report.claimed, report.succeeded) == (1, 1)


register_workflow(Workflow(name="test-execution-slow-step", version=1, steps=(Step("only", "test.chunks"),)))


@pytest.mark.parametrize(
    ("budget", "claim_for"), [(100.0, 1.0), (1.0, 100.0)], ids=["claiming-time-over", "budget-over"]
)
def test_a_tick_stops_claiming_once_its_claiming_time_or_its_budget_is_over(
    clock, budget: float, claim_for: float
) -> None:
    """Each run's step takes a claim of its own and 2 s: after the first, either limit is over."""
    _CLOCK_ADVANCERS["fake"] = clock.advance
    for _ in range(2):
        services.run_start(workflow="test-execution-slow-step", input={"chunks": 1, "cost": 2, "_advance": "fake"})
    report = tick(budget=Budget.seconds(budget), claim_for=claim_for)
    assert (report.claimed, report.succeeded, report.released) == (1, 1, 0)
