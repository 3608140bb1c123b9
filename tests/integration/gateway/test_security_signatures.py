"""Issue 14, "nobody forges or replays": each engine signature is bound to its purpose and route,
and each webhook-id is accepted once per route (a replay answers 2xx "duplicate" and runs nothing).
Agent callbacks stay Standard Webhooks signed with WEBHOOK_SECRET (or WEBHOOK_SECRET_NEXT)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from gateway.exceptions import BadSignature
from gateway.models import SignedRequest
from gateway.signatures import route_key, standard_verify
from orchestration import clock, dispatch, queue
from orchestration.models import Task, TaskStatus
from orchestration.registry import TaskContext, action
from orchestration.services import enqueue, run_start
from orders.models import Project
from tests.integration.gateway.conftest import WEBHOOK_SECRET_NEXT, assert_error

pytestmark = pytest.mark.django_db

CALLBACK = "/api/orchestration/webhooks"
EXECUTE = "/api/workflows/execute"
COUNTING_ROUTE = "/api/engine/count-runs"


@action("engine.count-runs")
def count_runs(ctx: TaskContext) -> dict[str, Any]:
    """Served at /api/engine/count-runs: one line per execution in the file the input names."""
    with open(ctx.input["log"], "a") as fh:
        fh.write("ran\n")
    return {"ran": True}


def _meta(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def _engine_post(client: APIClient, route: str, body: bytes, headers: dict[str, str], path: str | None = None) -> Any:
    return client.post(path or route, data=body, content_type="application/json", **_meta(headers))


@pytest.fixture
def running(project: Project) -> Any:
    run_start(workflow="test-diamond", project=project, input={"project_id": str(project.id)})
    (claimed,) = queue.claim(limit=1, worker="test", now=clock.now())
    return claimed


def test_a_callback_replayed_at_the_execute_route_is_refused(api: APIClient, running: Any) -> None:
    body = json.dumps(
        {
            "type": "task_completed",
            "agentId": "engine",
            "projectId": running.input["project_id"],
            "taskId": running.id,
            "attempt": running.attempt,
            "data": {"output": {"made": "by the agent"}},
        }
    ).encode()
    # The agent's side, exactly as an agent signs a callback (the public contract).
    headers = dispatch.signed_headers(body, msg_id="report_1", route=CALLBACK)
    Webhook(django_settings.WEBHOOK_SECRET).verify(body, headers)

    first = _engine_post(api, CALLBACK, body, headers)
    replays = [_engine_post(api, EXECUTE, body, headers) for _ in range(3)]

    assert first.status_code == 200 and first.json()["applied"] is True
    for response in replays:
        assert_error(response, 400, "bad_signature")
    assert not SignedRequest.objects.exists()


def test_a_replayed_dispatch_answers_duplicate_and_runs_nothing(api: APIClient, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    body = json.dumps(
        {"taskId": 7, "attempt": 1, "action": "engine.count-runs", "input": {"log": str(log)}, "deadlineSeconds": 5}
    ).encode()
    headers = dispatch.signed_headers(body, msg_id="dispatch_7_lease", route=COUNTING_ROUTE)

    first = _engine_post(api, COUNTING_ROUTE, body, headers)
    replays = [_engine_post(api, COUNTING_ROUTE, body, headers) for _ in range(3)]

    assert first.status_code == 200 and first.json()["type"] == "task_completed"
    for response in replays:
        assert response.status_code == 200
        assert response.json() == {"received": True, "duplicate": True, "ran": False, "webhookId": "dispatch_7_lease"}
    assert log.read_text() == "ran\n"


def test_a_dispatch_signed_for_one_route_is_refused_at_another(api: APIClient, tmp_path: Path) -> None:
    body = json.dumps(
        {
            "taskId": 7,
            "attempt": 1,
            "action": "engine.count-runs",
            "input": {"log": str(tmp_path / "x")},
            "deadlineSeconds": 5,
        }
    ).encode()
    for_setup = dispatch.signed_headers(body, msg_id="dispatch_7", route="/api/core-platform/setup")

    assert_error(_engine_post(api, COUNTING_ROUTE, body, for_setup), 400, "bad_signature")
    assert_error(_engine_post(api, EXECUTE, body, for_setup), 400, "bad_signature")
    assert_error(_engine_post(api, CALLBACK, body, for_setup), 400, "bad_signature")
    assert not (tmp_path / "x").exists()


def test_a_replayed_kick_answers_duplicate_and_runs_nothing(api: APIClient) -> None:
    body = json.dumps({"runId": None}).encode()
    headers = dispatch.signed_headers(body, msg_id="kick_1", route=EXECUTE)

    first = _engine_post(api, EXECUTE, body, headers)
    task = enqueue("engine.echo", {})  # due work the replays must not run
    replays = [_engine_post(api, EXECUTE, body, headers) for _ in range(3)]

    assert first.status_code == 200 and "duplicate" not in first.json()
    assert all(r.status_code == 200 and r.json()["duplicate"] is True for r in replays)
    assert Task.objects.get(id=task.id).status == TaskStatus.QUEUED


def test_each_route_has_its_own_key_and_the_callback_route_keeps_the_secret_itself() -> None:
    secret = django_settings.WEBHOOK_SECRET
    keys = {route: route_key(secret, route) for route in (CALLBACK, EXECUTE, COUNTING_ROUTE, "/api/design-ia/generate")}

    assert keys[CALLBACK] == secret
    assert len(set(keys.values())) == 4
    body = b'{"runId": null}'
    headers = dispatch.signed_headers(body, msg_id="m", route=EXECUTE)
    assert standard_verify(body, headers, route=EXECUTE) == "m"
    with pytest.raises(BadSignature):
        standard_verify(body, headers, route=COUNTING_ROUTE)


def test_engine_signatures_made_with_the_next_key_verify_during_a_rotation(settings: Any, api: APIClient) -> None:
    settings.WEBHOOK_SECRET, settings.WEBHOOK_SECRET_NEXT = WEBHOOK_SECRET_NEXT, settings.WEBHOOK_SECRET
    body = json.dumps({"runId": None}).encode()
    signed_by_new_sender = dispatch.signed_headers(body, msg_id="kick_rotated", route=EXECUTE)
    settings.WEBHOOK_SECRET, settings.WEBHOOK_SECRET_NEXT = settings.WEBHOOK_SECRET_NEXT, WEBHOOK_SECRET_NEXT

    assert _engine_post(api, EXECUTE, body, signed_by_new_sender).status_code == 200
