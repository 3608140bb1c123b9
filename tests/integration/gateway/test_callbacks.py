"""Agent callbacks: Standard Webhooks signatures with two live keys, dedup on webhook-id,
attempt fencing through the engine, and a clean 4xx (no row changed) for anything wrong."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from gateway.models import EventStatus, WebhookEvent
from orchestration import clock, queue
from orchestration.models import AgentRun, AttemptOutcome, Task, TaskStatus, WorkflowRun
from orchestration.queue import ClaimedTask
from orchestration.services import Actor, enqueue, run_cancel, run_replay, run_start, task_continue
from orders.models import Project
from tests.integration.gateway.conftest import (
    OTHER_SECRET,
    WEBHOOK_SECRET_NEXT,
    assert_error,
    post_signed,
    standard_headers,
)

pytestmark = pytest.mark.django_db

URL = "/api/orchestration/webhooks"


@pytest.fixture
def running(project: Project) -> ClaimedTask:
    """The first step of a diamond run of engine.echo actions, claimed: attempt 1 is running."""
    run_start(workflow="test-diamond", project=project, input={"project_id": str(project.id)})
    (claimed,) = queue.claim(limit=1, worker="test", now=clock.now())
    return claimed


def report(task: ClaimedTask, kind: str = "task_completed", **overrides: Any) -> dict[str, Any]:
    body = {
        "type": kind,
        "agentId": "engine",
        "projectId": task.input["project_id"],
        "taskId": task.id,
        "attempt": task.attempt,
        "data": {"output": {"made": "by the agent"}},
    }
    body.update(overrides)
    return body


def _unchanged(task: ClaimedTask) -> None:
    assert not WebhookEvent.objects.exists()
    row = Task.objects.get(id=task.id)
    assert (row.status, row.output) == (TaskStatus.RUNNING, None)


def test_a_completion_is_applied_and_queues_what_it_made_ready(api: APIClient, running: ClaimedTask) -> None:
    response = post_signed(api, URL, report(running))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "received": True,
        "duplicate": False,
        "applied": True,
        "status": "processed",
        "outcome": f"task_completed applied to task {running.id}.",
    }
    task = Task.objects.get(id=running.id)
    assert (task.status, task.output) == (TaskStatus.SUCCEEDED, {"made": "by the agent"})
    ready = set(Task.objects.filter(run_id=running.run_id, status=TaskStatus.QUEUED).values_list("step", flat=True))
    assert ready == {"left", "right"}


def test_the_same_webhook_id_twice_is_applied_once(api: APIClient, running: ClaimedTask) -> None:
    first = post_signed(api, URL, report(running), msg_id="msg_same")
    second = post_signed(api, URL, report(running, data={"output": {"other": True}}), msg_id="msg_same")

    assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
    assert Task.objects.get(id=running.id).output == {"made": "by the agent"}
    assert WebhookEvent.objects.count() == 1


def test_a_late_report_from_an_old_attempt_is_recorded_but_changes_nothing(
    api: APIClient, running: ClaimedTask
) -> None:
    response = post_signed(api, URL, report(running, attempt=running.attempt + 1))

    assert response.status_code == 200
    assert response.json()["applied"] is False and response.json()["status"] == EventStatus.IGNORED
    assert Task.objects.get(id=running.id).status == TaskStatus.RUNNING
    assert AgentRun.objects.filter(task_id=running.id, outcome=AttemptOutcome.STALE).count() == 1


def test_a_retryable_failure_requeues_and_a_permanent_one_kills(api: APIClient, running: ClaimedTask) -> None:
    response = post_signed(
        api, URL, report(running, "task_failed", data={"error": "LLM down", "retryable": False, "errorType": "X"})
    )

    assert response.json()["applied"] is True
    task = Task.objects.get(id=running.id)
    assert (task.status, task.last_error) == (TaskStatus.DEAD, "LLM down")


def test_progress_is_stored_and_renews_the_lease(clock: Any, api: APIClient, running: ClaimedTask) -> None:
    before = Task.objects.get(id=running.id).lease_expires_at
    clock.advance(5)

    response = post_signed(api, URL, report(running, "task_progress", data={"progress": {"done": 2, "total": 5}}))

    assert response.json()["applied"] is True
    task = Task.objects.get(id=running.id)
    assert task.progress == {"done": 2, "total": 5}
    assert task.lease_expires_at > before


def test_a_checkpoint_continues_the_same_attempt(api: APIClient, running: ClaimedTask) -> None:
    data = {"continue": True, "cursor": [0, 1], "progress": {"done": 2, "total": 4}}

    post_signed(api, URL, report(running, data=data))

    task = Task.objects.get(id=running.id)
    assert (task.status, task.resume, task.cursor, task.attempt) == (TaskStatus.QUEUED, True, [0, 1], 1)


def test_the_next_key_is_accepted_during_a_rotation(api: APIClient, running: ClaimedTask) -> None:
    response = post_signed(api, URL, report(running), secret=WEBHOOK_SECRET_NEXT)

    assert response.status_code == 200 and response.json()["applied"] is True


def test_a_header_carrying_both_keys_signatures_is_accepted(api: APIClient, running: ClaimedTask) -> None:
    body = json.dumps(report(running)).encode()
    old = standard_headers(body, secret=OTHER_SECRET, msg_id="m1", timestamp=time.time())
    new = standard_headers(body, secret=WEBHOOK_SECRET_NEXT, msg_id="m1", timestamp=time.time())
    headers = {**new, "HTTP_WEBHOOK_SIGNATURE": f"{old['HTTP_WEBHOOK_SIGNATURE']} {new['HTTP_WEBHOOK_SIGNATURE']}"}

    response = api.post(URL, data=body, content_type="application/json", **headers)

    assert response.status_code == 200


def test_a_tampered_body_is_refused(api: APIClient, running: ClaimedTask) -> None:
    body = json.dumps(report(running)).encode()
    headers = standard_headers(body)

    response = api.post(URL, data=body.replace(b"agent", b"AGENT"), content_type="application/json", **headers)

    assert_error(response, 400, "bad_signature")
    _unchanged(running)


def test_a_wrong_secret_is_refused(api: APIClient, running: ClaimedTask) -> None:
    assert_error(post_signed(api, URL, report(running), secret=OTHER_SECRET), 400, "bad_signature")
    _unchanged(running)


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_outside_five_minutes_is_refused(api: APIClient, running: ClaimedTask, offset: int) -> None:
    error = assert_error(post_signed(api, URL, report(running), timestamp=time.time() + offset), 400, "bad_signature")
    assert "timestamp" in error["message"].lower()
    _unchanged(running)


@pytest.mark.parametrize(
    ("missing", "replace"),
    [
        ("HTTP_WEBHOOK_ID", None),
        ("HTTP_WEBHOOK_TIMESTAMP", None),
        ("HTTP_WEBHOOK_SIGNATURE", None),
        ("HTTP_WEBHOOK_SIGNATURE", "v1"),
        ("HTTP_WEBHOOK_SIGNATURE", "v1,not*base64"),
        ("HTTP_WEBHOOK_SIGNATURE", "v1,a,b"),
        ("HTTP_WEBHOOK_TIMESTAMP", "soon"),
        ("HTTP_WEBHOOK_TIMESTAMP", "1e400"),
    ],
)
def test_a_missing_or_malformed_header_is_refused(
    api: APIClient, running: ClaimedTask, missing: str, replace: str | None
) -> None:
    body = json.dumps(report(running)).encode()
    headers = standard_headers(body)
    if replace is None:
        del headers[missing]
    else:
        headers[missing] = replace

    assert_error(api.post(URL, data=body, content_type="application/json", **headers), 400, "bad_signature")
    _unchanged(running)


@pytest.mark.parametrize("body", [b"{oops", b"[1, 2]", b"null", b"\xff\xfe"])
def test_a_signed_body_that_is_not_a_json_object_is_refused(api: APIClient, running: ClaimedTask, body: bytes) -> None:
    if body == b"\xff\xfe":  # not UTF-8: nobody can sign it, the check itself must not crash
        response = api.post(URL, data=body, content_type="application/json", **standard_headers(b"x"))
        assert_error(response, 400, "bad_signature")
    else:
        assert_error(post_signed(api, URL, body), 400, "malformed_body")
    _unchanged(running)


def test_wrong_types_are_refused_naming_the_fields(api: APIClient, running: ClaimedTask) -> None:
    response = post_signed(api, URL, report(running, type="task_exploded", taskId="seven", attempt=-1, data=[]))

    error = assert_error(response, 400, "invalid")
    assert set(error["detail"]) == {"type", "taskId", "attempt", "data"}
    _unchanged(running)


def test_an_unknown_task_is_a_404(api: APIClient, running: ClaimedTask) -> None:
    assert_error(post_signed(api, URL, report(running, taskId=running.id + 1000)), 404, "unknown_task")
    _unchanged(running)


def test_a_report_from_another_agent_or_project_is_refused(api: APIClient, running: ClaimedTask) -> None:
    assert_error(post_signed(api, URL, report(running, agentId="design-ia")), 400, "wrong_agent")
    wrong_project = report(running, projectId="8b0f7d2c-7d1e-4a8e-9d0c-0f5a3c1b2e4d")
    assert_error(post_signed(api, URL, wrong_project), 404, "wrong_project")
    _unchanged(running)


def test_a_body_over_one_megabyte_is_a_413(api: APIClient, running: ClaimedTask) -> None:
    big = report(running, data={"output": {"blob": "x" * (1024 * 1024)}})

    assert_error(post_signed(api, URL, big), 413, "body_too_large")
    _unchanged(running)


# --- Fencing across generations and invocations (issue 12, defect 3) ---------------------------

STAFF = Actor(label="test:staff")


def claim_one() -> ClaimedTask:
    (claimed,) = queue.claim(limit=1, worker="test", now=clock.now())
    return claimed


def _cancel_and_replay(run: WorkflowRun) -> None:
    run_cancel(run=run, actor=STAFF)
    run_replay(run=WorkflowRun.objects.get(id=run.id), actor=STAFF, mode="scratch")


def _callback(task: ClaimedTask, project: Project, **extra: Any) -> dict[str, Any]:
    return {
        "type": "task_completed",
        "agentId": "engine",
        "projectId": str(project.id),
        "taskId": task.id,
        "attempt": task.attempt,
        "data": {"output": {"from": extra.pop("origin", "agent")}},
        **extra,
    }


def test_a_callback_from_the_old_generation_is_recorded_stale_and_the_new_attempts_callback_applies(
    api: APIClient, project: Project
) -> None:
    run = run_start(workflow="test-versioned", project=project, input={"project_id": str(project.id)})
    old = claim_one()
    _cancel_and_replay(run)
    new = claim_one()

    late = post_signed(api, URL, _callback(old, project, origin="old"))
    assert late.status_code == 200, late.content
    assert late.json()["applied"] is False
    current = post_signed(api, URL, _callback(new, project, origin="new"))
    assert current.json()["applied"] is True, current.json()
    assert Task.objects.get(id=new.id).output == {"from": "new"}


def test_a_callback_with_an_old_lease_token_is_stale_even_with_the_current_attempt_number(
    api: APIClient, project: Project
) -> None:
    """A continuation goes on with the same attempt number under a new lease: only the token tells
    the first invocation's late report from the second's."""
    enqueue("engine.echo", {"project_id": str(project.id)})
    first = claim_one()
    assert task_continue(task_id=first.id, cursor={"at": 1}, lease_token=first.lease_token)
    second = claim_one()
    assert second.attempt == first.attempt

    late = post_signed(
        api, URL, _callback(first, project, origin="first", leaseToken=str(first.lease_token), projectId=None)
    )
    assert late.json()["applied"] is False
    assert Task.objects.get(id=first.id).status == TaskStatus.RUNNING
    current = post_signed(
        api, URL, _callback(second, project, origin="second", leaseToken=str(second.lease_token), projectId=None)
    )
    assert current.json()["applied"] is True
    assert Task.objects.get(id=first.id).output == {"from": "second"}


def test_a_callback_with_a_malformed_lease_token_is_a_400(api: APIClient, project: Project) -> None:
    enqueue("engine.echo", {"project_id": str(project.id)})
    claimed = claim_one()
    response = post_signed(api, URL, _callback(claimed, project, leaseToken="not-a-uuid", projectId=None))
    assert response.status_code == 400
    assert Task.objects.get(id=claimed.id).status == TaskStatus.RUNNING


def test_a_report_on_a_plain_task_naming_the_project_its_input_names_is_applied(
    api: APIClient, project: Project
) -> None:
    """A task of no workflow (the refund of a cancelled order) carries its project in its input,
    and HTTP dispatch sends that as projectId: the agent's report names it back. It used to be
    refused 404 wrong_project (the check read the run's project, None), so every refund
    dispatched asynchronously timed out until its attempts ran out."""
    enqueue("engine.echo", {"project_id": str(project.id)})
    (claimed,) = queue.claim(limit=1, worker="test", now=clock.now())

    response = post_signed(api, URL, report(claimed))

    assert response.status_code == 200, response.content
    assert response.json()["applied"] is True
    assert Task.objects.get(id=claimed.id).status == TaskStatus.SUCCEEDED
    other = report(claimed, projectId="8b0f7d2c-7d1e-4a8e-9d0c-0f5a3c1b2e4d", attempt=claimed.attempt)
    assert_error(post_signed(api, URL, other), 404, "wrong_project")
