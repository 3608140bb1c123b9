"""What the inline executor hands an action and how it orders a batch: the time the attempt has
left (its step's timeout less what it already waited since the claim, within the tick's budget),
the progress reports it stores, and the half-lease rule for a task that waited behind another."""

from __future__ import annotations

from typing import Any

import pytest

from orchestration import services
from orchestration.budget import Budget
from orchestration.conf import engine_settings
from orchestration.execution import TickReport, execute, tick
from orchestration.models import AgentRun, Task, TaskStatus
from orchestration.queue import claim
from orchestration.registry import TaskContext, action
from tests.actions import _CLOCK_ADVANCERS

pytestmark = pytest.mark.django_db


@action("test.execution_time_left")
def time_left(ctx: TaskContext) -> dict[str, Any]:
    return {"time_left": ctx.time_left()}


@action("test.execution_progress")
def progress(ctx: TaskContext) -> dict[str, Any]:
    ctx.report_progress({"done": 1, "total": 2})
    return {"stored": Task.objects.get(id=ctx.task_id).progress}


def test_an_attempt_has_its_steps_timeout_less_the_time_it_waited_since_the_claim(clock) -> None:
    services.enqueue("test.execution_time_left", timeout_seconds=100)
    [claimed] = claim(limit=1, worker="w", now=clock.now())
    clock.advance(30)  # it waited behind the batch's other tasks
    assert execute(claimed, budget=Budget.seconds(1000)).succeeded == 1
    assert Task.objects.get(id=claimed.id).output == {"time_left": 70.0}


def test_an_attempt_has_no_more_time_than_the_ticks_budget(clock) -> None:
    services.enqueue("test.execution_time_left", timeout_seconds=100)
    [claimed] = claim(limit=1, worker="w", now=clock.now())
    assert execute(claimed, budget=Budget.seconds(40)).succeeded == 1
    assert Task.objects.get(id=claimed.id).output == {"time_left": 40.0}


def test_an_actions_progress_report_is_stored_on_its_task_while_it_runs(clock) -> None:
    task = services.enqueue("test.execution_progress")
    report = tick(budget=Budget.seconds(5))
    task.refresh_from_db()
    assert (report.succeeded, task.status) == (1, TaskStatus.SUCCEEDED)
    assert task.output == {"stored": {"done": 1, "total": 2}}


@pytest.mark.parametrize(("waited", "released"), [(0.4, 0), (0.5, 1)], ids=["under-half", "exactly-half"])
def test_a_task_that_waited_half_its_lease_or_more_behind_a_slow_one_is_handed_back_and_not_before(
    clock, waited: float, released: int
) -> None:
    """The lease is the shorter of the engine's lease and the step's timeout; at half of it the
    waiting task goes back unstarted (it could lose its lease mid-attempt), short of half it runs."""
    _CLOCK_ADVANCERS["fake"] = clock.advance
    lease = engine_settings.LEASE_SECONDS
    services.enqueue("test.chunks", {"chunks": 1, "cost": lease * waited, "_advance": "fake"}, priority=1)
    behind = services.enqueue("engine.noop")
    report = tick(budget=Budget.seconds(lease * 10), max_tasks=2)
    assert (report.claimed, report.succeeded, report.released) == (2, 2 - released, released)
    outcomes = list(AgentRun.objects.filter(task_id=behind.id).values_list("outcome", flat=True))
    assert outcomes == (["released"] if released else ["succeeded"])


def test_a_tick_report_reads_as_each_count_by_name_in_order() -> None:
    report = TickReport(recovered=1, claimed=3, succeeded=2, stale=1)
    assert str(report) == (
        "recovered 1, repaired 0, claimed 3, succeeded 2, failed 0, continued 0, released 0, stale 1"
    )
