"""The engine announces its failures and ends (orchestration.signals); metrics acts on them."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from metrics.models import ErrorGroup
from orchestration import services, signals
from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.retry import RetryPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    """Every signal the engine sends during the test, as (name, kwargs)."""
    got: list[tuple[str, dict[str, Any]]] = []

    def hearer(name: str):
        def receiver(sender, **kwargs):
            got.append((name, kwargs))

        return receiver

    receivers = {name: hearer(name) for name in ("attempt_failed", "task_dead", "run_finished")}
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver, weak=False)
    yield got
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


def test_a_retried_then_dead_plain_task_announces_each_failed_attempt_then_its_death(clock, heard) -> None:
    task = services.enqueue("test.crash", retry=RetryPolicy(max_attempts=2, base_seconds=1))
    tick(budget=Budget.seconds(5))
    clock.advance(2)
    tick(budget=Budget.seconds(5))
    assert [name for name, _ in heard] == ["attempt_failed", "attempt_failed", "task_dead"]
    first, second = heard[0][1], heard[1][1]
    assert (first["final"], second["final"]) == (False, True)
    assert first["task"].id == task.id and first["run"] is None and not first["timed_out"]
    assert first["error_type"] == "RuntimeError" and first["traceback"]
    assert heard[2][1]["task"].status == TaskStatus.DEAD


def test_a_failed_run_is_announced_once_with_its_status_and_error(heard) -> None:
    run = services.run_start(workflow="test-fragile", input={"flag": "/nonexistent/flag"})
    tick(budget=Budget.seconds(5))
    finished = [kwargs for name, kwargs in heard if name == "run_finished"]
    assert len(finished) == 1
    assert finished[0]["run"].id == run.id and finished[0]["status"] == RunStatus.FAILED
    assert "Step 'c' failed: flag missing" in finished[0]["error"]
    assert not [name for name, _ in heard if name == "task_dead"], "a run's task: the run's end says it"


def test_a_succeeded_run_is_announced_too(heard, tmp_path) -> None:
    flag = tmp_path / "flag"
    flag.write_text("present")
    run = services.run_start(workflow="test-fragile", input={"flag": str(flag)})
    tick(budget=Budget.seconds(5))
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert [(k["run"].id, k["status"], k["error"]) for n, k in heard if n == "run_finished"] == [
        (run.id, RunStatus.SUCCEEDED, "")
    ]


def test_a_receiver_that_raises_rolls_the_failure_back_with_its_error_record(clock) -> None:
    # Receivers run inside the engine's transaction: nothing half-written when one fails.
    task = services.enqueue("test.permanent")
    [claimed] = services.queue.claim(limit=1, worker="w", now=clock.now())

    def refuse(sender, **kwargs):
        raise RuntimeError("receiver down")

    signals.attempt_failed.connect(refuse, weak=False)
    try:
        with pytest.raises(RuntimeError, match="receiver down"), transaction.atomic():
            services.task_fail(task_id=task.id, lease_token=claimed.lease_token, error="boom", retryable=False)
    finally:
        signals.attempt_failed.disconnect(refuse)
    task.refresh_from_db()
    assert task.status == TaskStatus.RUNNING
    assert not ErrorGroup.objects.exists()


def test_metrics_receives_the_engine_signals() -> None:
    # The wiring metrics.apps makes: without it failures would go unrecorded and unmailed.
    assert signals.attempt_failed.has_listeners(Task)
    assert signals.task_dead.has_listeners(Task)
    assert signals.run_finished.has_listeners(WorkflowRun)
