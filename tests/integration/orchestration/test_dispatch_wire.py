"""What goes on the wire between the engine and its agents (orchestration.dispatch): the dispatch
request's fields by name, a report body without an agent id, and the kick's log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from orchestration import dispatch, queue, services
from orchestration.dispatch import Report
from tests.conftest import AGENT_SECRET

pytestmark = pytest.mark.django_db


def test_the_dispatch_request_names_its_callback_its_lease_token_and_its_deadline_to_the_millisecond(
    clock, settings
) -> None:
    services.enqueue("engine.echo", timeout_seconds=30)
    [task] = queue.claim(limit=1, worker="w", now=clock.now())

    body = dispatch._request_body(task, 12.34567, respond_async=True)

    assert body["callbackUrl"] == settings.AGENTS_BASE_URL + dispatch.CALLBACK_PATH
    assert body["leaseToken"] == str(task.lease_token)
    assert body["deadlineSeconds"] == 12.346
    assert body["respond"] == "async"


def test_a_report_body_without_an_agent_id_has_none() -> None:
    report = Report.from_body({"type": "task_started", "taskId": 1, "attempt": 1, "data": {}})
    assert report.agent_id == ""


@pytest.mark.parametrize(("run_id", "logged"), [("3f1c", "3f1c"), (None, None)])
def test_a_kick_is_logged_with_the_run_it_was_for(
    settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, run_id: Any, logged: Any
) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "KICK": True}
    settings.WEBHOOK_SECRET = AGENT_SECRET
    monkeypatch.setattr(dispatch.requests, "post", lambda *args, **kwargs: None)

    with caplog.at_level(logging.INFO, logger="orchestration"):
        dispatch.kick(run_id)

    [record] = [r for r in caplog.records if r.getMessage() == "kicked"]
    assert (record.action, record.run_id) == ("kick", logged)
