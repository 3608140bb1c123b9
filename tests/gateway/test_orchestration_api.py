"""`/api/orchestration/*`: staff read runs and act on them through the engine; every act is
recorded with the user, and a refused act is a 409 that says why."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import OperatorAction, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.services import run_start
from tests.gateway.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_run(tmp_path: Path) -> WorkflowRun:
    """test-fragile: step c fails for good until its flag file exists."""
    run = run_start(workflow="test-fragile", input={"flag": str(tmp_path / "flag")})
    tick(budget=Budget.seconds(30))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    return run


def test_staff_list_runs_filtered_by_status(staff_client: APIClient, failed_run: WorkflowRun) -> None:
    running = run_start(workflow="test-diamond")

    everything = staff_client.get("/api/orchestration/runs/").json()
    failed = staff_client.get("/api/orchestration/runs/?status=failed").json()

    assert everything["count"] == 2
    assert [r["id"] for r in failed["results"]] == [str(failed_run.id)]
    assert str(running.id) in {r["id"] for r in everything["results"]}
    assert_error(staff_client.get("/api/orchestration/runs/?status=exploded"), 400, "invalid_filter")
    assert_error(staff_client.get("/api/orchestration/runs/?project=nope"), 400, "invalid_filter")


def test_a_run_reads_with_its_tasks(staff_client: APIClient, failed_run: WorkflowRun) -> None:
    body = staff_client.get(f"/api/orchestration/runs/{failed_run.id}/").json()

    assert body["status"] == "failed"
    assert {t["step"]: t["status"] for t in body["tasks"]} == {
        "a": "succeeded",
        "b": "succeeded",
        "c": "dead",
        "d": "waiting",
    }
    assert_error(staff_client.get(f"/api/orchestration/runs/{uuid.uuid4()}/"), 404, "unknown_run")


def test_cancel_is_recorded_with_the_user_and_a_second_cancel_is_a_409(staff_client: APIClient, staff: User) -> None:
    run = run_start(workflow="test-diamond")

    response = staff_client.post(f"/api/orchestration/runs/{run.id}/cancel", {"reason": "test"}, format="json")
    again = staff_client.post(f"/api/orchestration/runs/{run.id}/cancel", {}, format="json")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    act = OperatorAction.objects.get()
    assert (act.actor, act.verb, act.detail) == (staff, OperatorAction.Verb.CANCEL_RUN, {"reason": "test"})
    error = assert_error(again, 409, "illegal_transition")
    assert "only a running run can be cancelled" in error["message"]


def test_replay_from_failed_steps_keeps_succeeded_outputs(
    staff_client: APIClient, failed_run: WorkflowRun, tmp_path: Path
) -> None:
    (tmp_path / "flag").touch()

    response = staff_client.post(f"/api/orchestration/runs/{failed_run.id}/replay", {"mode": "failed"}, format="json")

    assert response.status_code == 200, response.content
    statuses = {t["step"]: t["status"] for t in response.json()["tasks"]}
    assert statuses == {"a": "succeeded", "b": "succeeded", "c": "queued", "d": "waiting"}
    assert OperatorAction.objects.get().verb == OperatorAction.Verb.REPLAY_FAILED


def test_replay_refuses_bad_arguments_and_running_runs(staff_client: APIClient, failed_run: WorkflowRun) -> None:
    url = f"/api/orchestration/runs/{failed_run.id}/replay"
    assert_error(staff_client.post(url, {"mode": "sideways"}, format="json"), 400, "invalid")
    error = assert_error(staff_client.post(url, {"mode": "step"}, format="json"), 400, "invalid")
    assert "from_step" in error["detail"]
    assert_error(staff_client.post(url, {"mode": "step", "from_step": "zz"}, format="json"), 400, "invalid_workflow")
    running = run_start(workflow="test-diamond")
    assert_error(staff_client.post(f"/api/orchestration/runs/{running.id}/replay", {}, format="json"), 409)
    assert not OperatorAction.objects.exists()


def test_retry_a_dead_task(staff_client: APIClient, failed_run: WorkflowRun, tmp_path: Path) -> None:
    dead = Task.objects.get(run=failed_run, step="c")

    response = staff_client.post(f"/api/orchestration/tasks/{dead.id}/retry")

    assert response.status_code == 200 and response.json()["status"] == TaskStatus.QUEUED
    assert OperatorAction.objects.get().verb == OperatorAction.Verb.RETRY_TASK
    assert_error(staff_client.post(f"/api/orchestration/tasks/{dead.id + 999}/retry"), 404, "unknown_task")
    succeeded = Task.objects.get(run=failed_run, step="a")
    assert_error(staff_client.post(f"/api/orchestration/tasks/{succeeded.id}/retry"), 409, "illegal_transition")


def test_non_staff_cannot_read_or_act(
    api: APIClient, integration_client: APIClient, outsider_client: APIClient, failed_run: WorkflowRun
) -> None:
    for client, status in ((api, 401), (integration_client, 403), (outsider_client, 403)):
        assert_error(client.get("/api/orchestration/runs/"), status)
        assert_error(client.post(f"/api/orchestration/runs/{failed_run.id}/replay", {}, format="json"), status)
    assert WorkflowRun.objects.get(id=failed_run.id).status == RunStatus.FAILED
