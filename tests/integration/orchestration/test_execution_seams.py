"""What the inline executor hands to what it calls: the fault hook of a load test (the attempt's
ids, its attempts allowed and the time it has left), a checkpoint's cursor and progress, and the
execute route's tick, which runs one workflow run's work and nobody else's."""

from __future__ import annotations

from typing import Any

import pytest

from orchestration import services
from orchestration.budget import Budget
from orchestration.execution import execute, tick
from orchestration.models import Task, TaskStatus, WorkflowRun
from orchestration.queue import claim
from orchestration.registry import Continue, TaskContext, action
from orchestration.retry import RetryPolicy

pytestmark = pytest.mark.django_db

hook_calls: list[dict[str, Any]] = []


def recording_injector(plan: str) -> Any:
    """A fault injector (ORCHESTRATION["FAULT_INJECTOR"]) whose hook records what it is given,
    and fails the attempt when the plan says so."""

    def hook(**given: Any) -> None:
        hook_calls.append(given)
        if plan == "fail":
            raise RuntimeError("injected by the plan")

    return hook


@pytest.fixture
def faults(settings: Any) -> Any:
    hook_calls.clear()

    def plan(text: str) -> None:
        settings.ORCHESTRATION = {
            **settings.ORCHESTRATION,
            "FAULTS": text,
            "FAULT_INJECTOR": f"{__name__}.recording_injector",
        }

    yield plan
    hook_calls.clear()


def test_the_fault_hook_is_given_the_attempts_ids_attempts_allowed_and_time_left(clock, faults) -> None:
    faults("record")
    services.enqueue("engine.echo", {"n": 1}, retry=RetryPolicy(max_attempts=3), timeout_seconds=100)
    [claimed] = claim(limit=1, worker="w", now=clock.now())
    clock.advance(30)  # it waited behind the batch's other tasks
    assert execute(claimed, budget=Budget.seconds(1000)).succeeded == 1
    assert hook_calls == [{"task_id": claimed.id, "attempt": 1, "max_attempts": 3, "timeout_left": 70.0}]


def test_a_fault_the_hook_raises_fails_the_attempt_as_its_action_would(clock, faults) -> None:
    faults("fail")
    task = services.enqueue("engine.echo", {"n": 1}, retry=RetryPolicy(max_attempts=1))
    [claimed] = claim(limit=1, worker="w", now=clock.now())
    assert execute(claimed, budget=Budget.seconds(30)).failed == 1
    task.refresh_from_db()
    assert (task.status, task.last_error) == (TaskStatus.DEAD, "injected by the plan")


@action("test.seams_checkpoint")
def checkpoint(ctx: TaskContext) -> Continue:
    return Continue(cursor={"page": 2}, progress={"done": 1, "total": 3})


def test_a_checkpoint_stores_its_cursor_and_progress_and_counts_as_one_continuation(clock) -> None:
    task = services.enqueue("test.seams_checkpoint")
    [claimed] = claim(limit=1, worker="w", now=clock.now())
    report = execute(claimed, budget=Budget.seconds(30))
    task.refresh_from_db()
    assert (report.continued, report.succeeded, report.stale) == (1, 0, 0)
    assert (task.status, task.cursor, task.progress) == (TaskStatus.QUEUED, {"page": 2}, {"done": 1, "total": 3})


def test_a_tick_for_one_run_runs_that_runs_steps_and_leaves_the_others_work_queued(clock) -> None:
    mine = services.run_start(workflow="test-diamond")
    other = services.run_start(workflow="test-diamond")
    plain = services.enqueue("engine.noop")
    report = tick(budget=Budget.seconds(30), run_id=mine.id)
    assert report.succeeded == 4
    assert WorkflowRun.objects.get(id=mine.id).status == "succeeded"
    assert WorkflowRun.objects.get(id=other.id).status == "running"
    others = Task.objects.filter(run_id=other.id).values_list("step", "status")
    assert dict(others) == {"start": "queued", "left": "waiting", "right": "waiting", "join": "waiting"}
    assert Task.objects.get(id=plain.id).status == TaskStatus.QUEUED
