"""The agent side of HTTP dispatch renews the lease of its attempt and reports its progress fenced
as its callbacks are (orchestration/dispatch.py, `_agent_context`): by the lease token of its request
when it carries one, else by its attempt number."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from orchestration import clock, dispatch, queue, services
from orchestration.models import Task
from orchestration.queue import ClaimedTask
from orchestration.registry import TaskContext

pytestmark = pytest.mark.django_db


def claimed_task() -> ClaimedTask:
    services.enqueue("engine.noop")
    [claimed] = queue.claim(limit=1, worker="w", now=clock.now())
    return claimed


def agent_context(task: ClaimedTask, **request: Any) -> TaskContext:
    body = {"taskId": task.id, "attempt": task.attempt, "action": task.action, **request}
    return dispatch._agent_context(body, deadline=clock.monotonic() + 60)


def progress_of(task: ClaimedTask) -> Any:
    return Task.objects.get(id=task.id).progress


def test_the_agent_renews_and_reports_under_the_lease_token_of_its_request() -> None:
    task = claimed_task()
    ctx = agent_context(task, leaseToken=str(task.lease_token))

    assert ctx.heartbeat() is True
    ctx.report_progress({"done": 1, "total": 3})
    assert progress_of(task) == {"done": 1, "total": 3}


def test_a_request_whose_lease_token_is_not_the_attempts_renews_nothing_and_reports_nothing() -> None:
    """Its attempt number is right: the token alone says this is not the claim that holds the task."""
    task = claimed_task()
    ctx = agent_context(task, leaseToken=str(uuid.uuid4()))

    assert ctx.heartbeat() is False
    ctx.report_progress({"done": 1})
    assert progress_of(task) is None


def test_a_request_without_a_lease_token_is_fenced_by_its_attempt_number() -> None:
    task = claimed_task()

    current = agent_context(task)
    assert current.heartbeat() is True
    current.report_progress({"done": 2})
    assert progress_of(task) == {"done": 2}

    other = agent_context(task, attempt=task.attempt + 1)
    assert other.heartbeat() is False
    other.report_progress({"done": 3})
    assert progress_of(task) == {"done": 2}
