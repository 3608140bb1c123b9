"""The engine side of HTTP dispatch (orchestration/dispatch.py): what the dispatch request and the
kick send and how long they wait, the lease renewed only while the agent answers, a deployment that
cannot sign failing the attempt for good, and the report body an agent calls back with."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from orchestration import dispatch
from orchestration.budget import Budget
from orchestration.heartbeat import heartbeater
from orchestration.models import AgentRun, Task, TaskStatus
from tests.conftest import AGENT_SECRET
from tests.support.dispatching import BASE, FakePost, claimed


@pytest.fixture
def post(monkeypatch: pytest.MonkeyPatch, settings: Any) -> FakePost:
    settings.AGENTS_BASE_URL = BASE
    settings.WEBHOOK_SECRET = AGENT_SECRET
    recorded = FakePost(status=202)
    monkeypatch.setattr(requests, "post", recorded)
    return recorded


# --- The dispatch request ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("elapsed", "deadline"), [(10, 20.0), (29.5, 1.0)], ids=["time left", "at least a second"])
def test_the_agent_is_given_the_attempts_time_left_and_the_engine_waits_a_grace_beyond_it(
    clock, post: FakePost, elapsed: float, deadline: float
) -> None:
    task = claimed(clock, timeout_seconds=30)
    clock.advance(elapsed)

    assert dispatch.dispatch(task, budget=Budget.seconds(60)) == dispatch.DISPATCHED

    [call] = post.calls
    assert call["url"] == BASE + "/api/engine/echo"
    assert post.body["deadlineSeconds"] == deadline
    assert call["timeout"] == (dispatch.CONNECT_TIMEOUT_SECONDS, deadline + dispatch.ANSWER_GRACE_SECONDS)
    assert not call.get("allow_redirects", True)  # a redirect is not followed


@pytest.mark.django_db
def test_the_lease_is_renewed_while_the_agent_answers_and_no_longer_once_it_has(clock, post: FakePost) -> None:
    task = claimed(clock)
    tracked: list[set[Any]] = []
    post.during = lambda: tracked.append(heartbeater.tracked_tokens())

    dispatch.dispatch(task, budget=Budget.seconds(60))

    assert task.lease_token in tracked[0]
    assert not heartbeater.tracked_tokens() & {task.lease_token, None}


@pytest.mark.django_db
def test_a_deployment_that_cannot_sign_its_dispatch_fails_the_attempt_for_good(clock, post: FakePost, settings) -> None:
    """No retry fixes a missing signing key: the task dies at once, saying why, and nothing is sent."""
    settings.WEBHOOK_SECRET = ""
    task = claimed(clock)

    assert dispatch.dispatch(task, budget=Budget.seconds(60)) == dispatch.FAILED

    row = Task.objects.get(id=task.id)
    error = "HTTP dispatch needs WEBHOOK_SECRET (a whsec_ key) to sign its calls."
    assert (row.status, row.last_error) == (TaskStatus.DEAD, error)
    attempt = AgentRun.objects.get(task_id=task.id)
    assert (attempt.error_type, attempt.error) == ("DispatchError", error)
    assert post.calls == []


def test_an_action_is_served_under_its_agent_whatever_dots_its_name_holds() -> None:
    assert dispatch.agent_path("design-ia.generate") == "/api/design-ia/generate"
    assert dispatch.agent_path("site.build.v2") == "/api/site/build.v2"
    assert dispatch.agent_of("site.build.v2") == "site"


# --- The kick ------------------------------------------------------------------------------------


@pytest.fixture
def kicks_on(settings: Any) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "KICK": True}


@pytest.mark.parametrize(("run_id", "named"), [("7d0c", "7d0c"), (None, None)], ids=["one run", "any"])
def test_a_kick_posts_signed_json_naming_its_run_to_the_execute_route_and_waits_briefly(
    post: FakePost, kicks_on: None, run_id: Any, named: Any
) -> None:
    dispatch.kick(run_id)

    [call] = post.calls
    assert call["url"] == BASE + "/api/workflows/execute"
    assert post.body == {"runId": named}
    headers = CaseInsensitiveDict(call["headers"])
    assert headers["content-type"] == "application/json"
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= {name.lower() for name in headers}
    assert call["timeout"] == dispatch.KICK_TIMEOUT_SECONDS == (2.0, 0.5)
    assert not call.get("allow_redirects", True)  # a redirect is not followed


def test_a_kick_that_cannot_reach_the_server_is_logged_and_dropped(post: FakePost, kicks_on: None, caplog) -> None:
    post.raises = requests.ConnectionError("refused")

    with caplog.at_level(logging.INFO, logger="orchestration.dispatch"):
        dispatch.kick()

    [record] = caplog.records
    assert (record.getMessage(), record.levelno) == ("kick failed", logging.WARNING)
    assert (record.action, record.error) == ("kick_failed", "ConnectionError")


# --- The report body -----------------------------------------------------------------------------


def test_a_report_body_carries_the_attempt_its_agent_project_and_lease_token() -> None:
    report = dispatch.Report(
        "task_progress", task_id=7, attempt=3, data={"progress": {"done": 1}}, agent_id="site", project_id="p1"
    )
    body = {
        "type": "task_progress",
        "agentId": "site",
        "projectId": "p1",
        "taskId": 7,
        "attempt": 3,
        "data": {"progress": {"done": 1}},
    }

    assert report.as_body() == body
    tokened = dispatch.Report(**{**report.__dict__, "lease_token": "tok"})
    assert tokened.as_body() == {**body, "leaseToken": "tok"}
    assert dispatch.Report.from_body(tokened.as_body()) == tokened
