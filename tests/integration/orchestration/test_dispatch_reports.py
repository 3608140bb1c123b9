"""What each report an agent sends about its attempt does (orchestration.dispatch.apply_report):
started and progress renew the lease, progress and a continuation are stored, a failure carries
what the agent said of it (type, traceback, location, retryable) to the engine and its listeners."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestration import dispatch, queue, services
from orchestration.conf import engine_settings
from orchestration.dispatch import Report
from orchestration.models import AgentRun, Task, TaskStatus
from orchestration.queue import ClaimedTask
from orchestration.retry import RetryPolicy

pytestmark = pytest.mark.django_db


def claimed(clock: Any) -> ClaimedTask:
    services.enqueue("engine.echo", timeout_seconds=30, retry=RetryPolicy(max_attempts=3))
    [task] = queue.claim(limit=1, worker="w", now=clock.now())
    return task


def send(task: ClaimedTask, type_: str, data: dict[str, Any] | None = None, attempt: int | None = None) -> bool:
    report = Report(type=type_, task_id=task.id, attempt=attempt or task.attempt, data=data or {})
    return dispatch.apply_report(report, lease_token=task.lease_token)


@pytest.mark.parametrize("type_", ["task_started", "task_progress"])
def test_a_started_or_progress_report_renews_that_tasks_lease(clock, type_: str) -> None:
    task = claimed(clock)
    other = claimed(clock)
    before = Task.objects.get(id=other.id).lease_expires_at
    clock.advance(20)

    assert send(task, type_) is True

    assert Task.objects.get(id=task.id).lease_expires_at == clock.now() + timedelta(
        seconds=engine_settings.LEASE_SECONDS
    )
    assert Task.objects.get(id=other.id).lease_expires_at == before


@pytest.mark.parametrize("type_", ["task_started", "task_progress"])
def test_a_started_or_progress_report_of_a_lost_attempt_says_so(clock, type_: str) -> None:
    task = claimed(clock)
    assert send(task, type_, attempt=task.attempt + 1) is False


def test_a_progress_report_stores_its_progress_and_one_without_stores_none(clock) -> None:
    task = claimed(clock)
    send(task, "task_progress", {"progress": {"done": 3, "of": 5}})
    assert Task.objects.get(id=task.id).progress == {"done": 3, "of": 5}
    send(task, "task_progress", {})
    assert Task.objects.get(id=task.id).progress == {"done": 3, "of": 5}


def test_a_progress_report_of_a_lost_attempt_stores_nothing(clock) -> None:
    task = claimed(clock)
    send(task, "task_progress", {"progress": {"done": 1}}, attempt=task.attempt + 1)
    assert Task.objects.get(id=task.id).progress is None


def test_a_continuation_stores_its_cursor_and_progress(clock) -> None:
    task = claimed(clock)
    assert send(task, "task_completed", {"continue": True, "cursor": {"page": 2}, "progress": {"done": 1}})
    row = Task.objects.get(id=task.id)
    assert (row.status, row.cursor, row.progress) == (TaskStatus.QUEUED, {"page": 2}, {"done": 1})


def test_a_failure_carries_what_the_agent_said_of_it(clock, failures) -> None:
    task = claimed(clock)
    data = {
        "error": "the brief is invalid",
        "retryable": False,
        "errorType": "BriefError",
        "traceback": "Traceback (most recent call last): ...",
        "location": "agents/design.py:42",
    }
    assert send(task, "task_failed", data) is True

    assert Task.objects.get(id=task.id).status == TaskStatus.DEAD
    attempt = AgentRun.objects.get(task_id=task.id)
    assert (attempt.outcome, attempt.error, attempt.error_type) == ("failed", "the brief is invalid", "BriefError")
    [failure] = failures
    assert (failure["error_type"], failure["traceback"], failure["location"], failure["message"]) == (
        "BriefError",
        "Traceback (most recent call last): ...",
        "agents/design.py:42",
        "the brief is invalid",
    )


def test_a_failure_that_says_nothing_is_a_retryable_agent_error_located_at_its_action(clock, failures) -> None:
    task = claimed(clock)
    assert send(task, "task_failed", {}) is True

    row = Task.objects.get(id=task.id)
    assert (row.status, row.last_error) == (TaskStatus.QUEUED, "The agent reported a failure")
    assert AgentRun.objects.get(task_id=task.id).error_type == "AgentError"
    [failure] = failures
    assert (failure["error_type"], failure["traceback"], failure["location"]) == ("AgentError", "", "engine.echo")


def test_a_report_of_an_unknown_type_is_refused_by_name(clock) -> None:
    task = claimed(clock)
    with pytest.raises(ValueError, match=r"^Unknown report type 'task_exploded'$"):
        send(task, "task_exploded")
