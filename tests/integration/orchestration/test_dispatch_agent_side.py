"""The agent side of HTTP dispatch (orchestration/dispatch.py, `run_dispatched`): the report names the
attempt it is about as the request did (task, attempt, agent, project, lease token); a checkpoint is
reported as one; the action gets the time the request allows, within the route's budget; and what
it logs carries the attempt's ids, as inline."""

from __future__ import annotations

from typing import Any

import pytest

from core.logging import current
from orchestration import dispatch
from orchestration.budget import Budget
from orchestration.dispatch import Report
from orchestration.registry import Continue, TaskContext

TOKEN = "6b1f3c2e-8d4a-4f7e-9a51-0c2d3e4f5a6b"
PROJECT = "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
RUN = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"


def request(**extra: Any) -> dict[str, Any]:
    """Attempt 3 of task 7, the action `test.x` (agent `test`), of a run of a project."""
    return {
        "taskId": 7,
        "attempt": 3,
        "action": "test.x",
        "runId": RUN,
        "projectId": PROJECT,
        "leaseToken": TOKEN,
        "deadlineSeconds": 30,
        **extra,
    }


def run(monkeypatch: pytest.MonkeyPatch, action: Any, body: dict[str, Any], budget: float = 60) -> Report:
    monkeypatch.setattr(dispatch, "get_action", lambda name: action)
    return dispatch.run_dispatched(body, budget=Budget.seconds(budget))


def test_a_completed_report_names_the_attempt_its_agent_project_and_lease_token(clock, monkeypatch) -> None:
    report = run(monkeypatch, lambda ctx: {"url": "https://x"}, request())

    assert report == Report(
        "task_completed",
        task_id=7,
        attempt=3,
        data={"output": {"url": "https://x"}},
        agent_id="test",
        project_id=PROJECT,
        lease_token=TOKEN,
    )


def test_a_request_without_project_or_lease_token_is_reported_without_them(clock, monkeypatch) -> None:
    body = request()
    del body["projectId"], body["leaseToken"]

    report = run(monkeypatch, lambda ctx: {}, body)

    assert (report.type, report.project_id, report.lease_token) == ("task_completed", None, None)


def test_a_checkpoint_is_reported_as_a_completion_that_continues_from_its_cursor(clock, monkeypatch) -> None:
    report = run(monkeypatch, lambda ctx: Continue(cursor={"page": 2}, progress={"done": 1, "total": 3}), request())

    assert report == Report(
        "task_completed",
        task_id=7,
        attempt=3,
        data={"continue": True, "cursor": {"page": 2}, "progress": {"done": 1, "total": 3}},
        agent_id="test",
        project_id=PROJECT,
        lease_token=TOKEN,
    )


@pytest.mark.parametrize(
    ("deadline_seconds", "budget", "time_left"),
    [(30, 60, 30.0), (90, 60, 60.0), (None, 60, 0.0)],
    ids=["the request's deadline", "the route's budget, when shorter", "no deadline: none"],
)
def test_the_action_gets_the_time_the_request_allows_within_the_routes_budget(
    clock, monkeypatch, deadline_seconds: float | None, budget: float, time_left: float
) -> None:
    seen: list[float] = []

    def action(ctx: TaskContext) -> dict[str, Any]:
        seen.append(ctx.time_left())
        return {}

    run(monkeypatch, action, request(deadlineSeconds=deadline_seconds), budget=budget)

    assert seen == [time_left]


def test_what_the_action_logs_carries_the_attempts_ids(clock, monkeypatch) -> None:
    seen: list[dict[str, Any]] = []

    def action(ctx: TaskContext) -> dict[str, Any]:
        seen.append({name: current(name) for name in ("task_id", "attempt", "run_id", "project_id")})
        return {}

    run(monkeypatch, action, request())

    assert seen == [{"task_id": 7, "attempt": 3, "run_id": RUN, "project_id": PROJECT}]
    assert current("task_id") is None  # unbound once the action is done
