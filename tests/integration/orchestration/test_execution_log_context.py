"""Every log line of an attempt carries the attempt's ids (orchestration.execution.execute binds
them, core/logging.py adds them to each record): whoever reads the logs of a failed order can
follow it by task, attempt, run and project."""

from __future__ import annotations

from typing import Any

import pytest

from core import logging as log_ids
from orchestration import execution, queue, services
from orchestration.budget import Budget

pytestmark = pytest.mark.django_db


def ids_while_running(clock: Any, monkeypatch: pytest.MonkeyPatch, payload: Any) -> tuple[dict[str, Any], Any]:
    task = services.enqueue("engine.echo", payload)
    if not isinstance(payload, dict):
        type(task).objects.filter(id=task.id).update(input=payload)
    [claimed] = queue.claim(limit=1, worker="w", now=clock.now())
    seen: dict[str, Any] = {}

    def record(task: Any, **kwargs: Any) -> Any:
        seen.update({name: log_ids.current(name) for name in ("task_id", "attempt", "run_id", "project_id")})
        return execution.TickReport()

    monkeypatch.setattr(execution, "_execute", record)
    execution.execute(claimed, budget=Budget.seconds(30))
    return seen, claimed


def test_an_attempts_log_lines_carry_its_task_attempt_run_and_project(clock, monkeypatch) -> None:
    seen, claimed = ids_while_running(clock, monkeypatch, {"project_id": "p-42"})
    assert seen == {"task_id": claimed.id, "attempt": 1, "run_id": claimed.run_id, "project_id": "p-42"}


def test_an_attempt_whose_input_is_not_an_object_has_no_project(clock, monkeypatch) -> None:
    seen, claimed = ids_while_running(clock, monkeypatch, ["not", "an", "object"])
    assert (seen["task_id"], seen["project_id"]) == (claimed.id, None)


def test_the_ids_are_unbound_once_the_attempt_is_over(clock, monkeypatch) -> None:
    ids_while_running(clock, monkeypatch, {"project_id": "p-42"})
    assert log_ids.current("task_id") is None and log_ids.current("project_id") is None


def test_a_steps_log_lines_carry_its_run(clock, monkeypatch) -> None:
    run = services.run_start(workflow="test-diamond")
    [claimed] = queue.claim(limit=1, worker="w", now=clock.now())
    seen: dict[str, Any] = {}

    def record(task: Any, **kwargs: Any) -> Any:
        seen["run_id"] = log_ids.current("run_id")
        return execution.TickReport()

    monkeypatch.setattr(execution, "_execute", record)
    execution.execute(claimed, budget=Budget.seconds(30))
    assert seen["run_id"] == claimed.run_id == str(run.id)
