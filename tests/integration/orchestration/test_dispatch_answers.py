"""What the engine makes of its agent's answer to a dispatch (orchestration/dispatch.py, `dispatch`):
a report applied under the engine's own lease token, and the outcome it names; an answer that is no
report, or a report on another attempt, or no answer at all, a retryable failure saying so; a 202 the
step's timeout bounds."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from orchestration import dispatch, services
from orchestration.budget import Budget
from orchestration.heartbeat import heartbeater
from orchestration.models import Task, TaskStatus
from orchestration.queue import ClaimedTask
from tests.conftest import AGENT_SECRET
from tests.support.dispatching import BASE, FakePost, claimed

pytestmark = pytest.mark.django_db

ROUTE = BASE + "/api/engine/echo"


@pytest.fixture
def agent_route(monkeypatch: pytest.MonkeyPatch, settings: Any) -> FakePost:
    settings.AGENTS_BASE_URL = BASE
    settings.WEBHOOK_SECRET = AGENT_SECRET
    fake = FakePost()
    monkeypatch.setattr(requests, "post", fake)
    return fake


def report(task: ClaimedTask, type_: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": type_, "taskId": task.id, "attempt": task.attempt, "data": data, **extra}


def row(task: ClaimedTask) -> Task:
    return Task.objects.get(id=task.id)


def test_the_request_is_signed_json(clock, agent_route: FakePost) -> None:
    task = claimed(clock)
    agent_route.answer = report(task, "task_completed", {"output": {}})

    dispatch.dispatch(task, budget=Budget.seconds(60))

    headers = CaseInsensitiveDict(agent_route.calls[0]["headers"])
    assert headers["content-type"] == "application/json"
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= {name.lower() for name in headers}


def test_a_completed_report_succeeds_the_task_under_the_engines_own_lease_token(clock, agent_route: FakePost) -> None:
    """The answer is fenced by the token the engine holds, whatever token the answer carries back."""
    task = claimed(clock)
    agent_route.answer = report(task, "task_completed", {"output": {"url": "https://x"}}, leaseToken=str(uuid.uuid4()))

    assert dispatch.dispatch(task, budget=Budget.seconds(60)) == dispatch.SUCCEEDED
    assert (row(task).status, row(task).output) == (TaskStatus.SUCCEEDED, {"url": "https://x"})


def test_a_checkpoint_report_continues_the_task(clock, agent_route: FakePost) -> None:
    task = claimed(clock)
    agent_route.answer = report(task, "task_completed", {"continue": True, "cursor": {"page": 2}})

    assert dispatch.dispatch(task, budget=Budget.seconds(60)) == dispatch.CONTINUED
    assert (row(task).status, row(task).cursor) == (TaskStatus.QUEUED, {"page": 2})


def test_a_failed_report_fails_the_task(clock, agent_route: FakePost) -> None:
    task = claimed(clock)
    agent_route.answer = report(task, "task_failed", {"error": "bad brief", "retryable": False})

    assert dispatch.dispatch(task, budget=Budget.seconds(60)) == dispatch.FAILED
    assert (row(task).status, row(task).last_error) == (TaskStatus.DEAD, "bad brief")


def test_a_report_on_an_attempt_that_lost_its_lease_meanwhile_is_stale(clock, agent_route: FakePost) -> None:
    task = claimed(clock)
    agent_route.answer = report(task, "task_completed", {"output": {}})
    Task.objects.filter(id=task.id).update(lease_expires_at=clock.now() - timedelta(seconds=1))
    assert services.recover_expired_leases() == 1

    assert dispatch.dispatch(task, budget=Budget.seconds(60)) == dispatch.STALE


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"<html>not a report</html>", "answered 200 without a report"),
        ("attempt+1", "answered for another attempt"),
    ],
    ids=["no report", "another attempt"],
)
def test_an_answer_that_is_not_this_attempts_report_is_a_retryable_failure(
    clock, agent_route: FakePost, answer: Any, error: str
) -> None:
    task = claimed(clock)
    if answer == "attempt+1":
        answer = {**report(task, "task_completed", {"output": {}}), "attempt": task.attempt + 1}
    agent_route.answer = answer

    assert dispatch.dispatch(task, budget=Budget.seconds(60)) == dispatch.FAILED
    assert (row(task).status, row(task).last_error) == (TaskStatus.QUEUED, f"Agent route {ROUTE} {error}")


def test_an_agent_route_that_cannot_be_reached_is_a_retryable_failure_and_its_lease_no_longer_renewed(
    clock, agent_route: FakePost
) -> None:
    task = claimed(clock)
    agent_route.raises = requests.ConnectionError("refused")

    assert dispatch.dispatch(task, budget=Budget.seconds(60)) == dispatch.FAILED

    assert (row(task).status, row(task).last_error) == (
        TaskStatus.QUEUED,
        f"Agent route {ROUTE} unreachable: ConnectionError",
    )
    assert not heartbeater.tracked_tokens() & {task.lease_token, None}


@pytest.mark.parametrize(("elapsed", "extended"), [(10, 20.0), (29.5, 1.0)], ids=["time left", "at least a second"])
def test_an_agent_that_will_call_back_holds_the_task_for_the_steps_time_left(
    clock, agent_route: FakePost, caplog, elapsed: float, extended: float
) -> None:
    task = claimed(clock, timeout_seconds=30)
    clock.advance(elapsed)
    agent_route.status = 202

    with caplog.at_level(logging.INFO, logger="orchestration.dispatch"):
        assert dispatch.dispatch(task, budget=Budget.seconds(60)) == dispatch.DISPATCHED

    assert row(task).lease_expires_at == clock.now() + timedelta(seconds=extended)
    [record] = [r for r in caplog.records if r.name == "orchestration.dispatch"]
    assert record.getMessage() == "dispatched"
    assert (record.action, record.task_id, record.attempt) == ("dispatch_async", task.id, task.attempt)
