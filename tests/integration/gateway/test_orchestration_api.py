"""`/api/orchestration/*`: staff, and integrations holding Django's model permissions (view to
read, change to act), read runs and act on them through the engine; every act is recorded with
the user, and a refused act is a 409 that says why."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import OperatorAction, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.services import run_start
from orders.services import project_create
from tests.integration.gateway.conftest import BRIEF, assert_error

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


def _integration(*codenames: str) -> tuple[APIClient, User]:
    """A non-staff token user (an integration) holding exactly these orchestration permissions."""
    user = User.objects.create_user(f"integration-{len(codenames)}", "bot@studio.example", "pw")
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="orchestration", codename__in=codenames)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client, user


def _own(run: WorkflowRun, user: User) -> WorkflowRun:
    """Make `run` the run of a project `user` created: non-staff see only their own projects' runs."""
    run.subject = project_create(**BRIEF, owner=user)
    run.save(update_fields=["subject_type", "subject_id"])
    return run


READ = ("view_workflowrun", "view_task")
ACT = ("change_workflowrun", "change_task")


def test_an_integration_with_view_permissions_reads_runs_but_cannot_act(failed_run: WorkflowRun) -> None:
    client, user = _integration(*READ)
    _own(failed_run, user)

    listing = client.get("/api/orchestration/runs/")
    detail = client.get(f"/api/orchestration/runs/{failed_run.id}/")
    replay = client.post(f"/api/orchestration/runs/{failed_run.id}/replay", {}, format="json")
    dead = Task.objects.get(run=failed_run, step="c")
    retry = client.post(f"/api/orchestration/tasks/{dead.id}/retry")

    assert listing.status_code == 200 and listing.json()["count"] == 1
    assert detail.status_code == 200 and detail.json()["id"] == str(failed_run.id)
    error = assert_error(replay, 403, "permission_denied")
    assert "orchestration.change_workflowrun" in error["message"]
    assert_error(retry, 403, "permission_denied")
    assert WorkflowRun.objects.get(id=failed_run.id).status == RunStatus.FAILED
    assert Task.objects.get(id=dead.id).status == TaskStatus.DEAD
    assert not OperatorAction.objects.exists()


def test_an_integration_with_change_permissions_acts_and_is_recorded(failed_run: WorkflowRun) -> None:
    client, user = _integration(*READ, *ACT)
    running = _own(run_start(workflow="test-diamond"), user)
    dead = Task.objects.get(run=_own(failed_run, user), step="c")

    cancel = client.post(f"/api/orchestration/runs/{running.id}/cancel", {"reason": "by the bot"}, format="json")
    retry = client.post(f"/api/orchestration/tasks/{dead.id}/retry")

    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    assert retry.status_code == 200 and retry.json()["status"] == TaskStatus.QUEUED
    assert {(a.actor, a.verb) for a in OperatorAction.objects.all()} == {
        (user, OperatorAction.Verb.CANCEL_RUN),
        (user, OperatorAction.Verb.RETRY_TASK),
    }


def test_change_permissions_without_view_permissions_do_not_open_reads(failed_run: WorkflowRun) -> None:
    client, _ = _integration(*ACT)

    assert_error(client.get("/api/orchestration/runs/"), 403, "permission_denied")
    assert_error(client.get(f"/api/orchestration/runs/{failed_run.id}/"), 403, "permission_denied")


def test_a_permission_on_another_model_is_not_enough(failed_run: WorkflowRun) -> None:
    user = User.objects.create_user("reader", "reader@studio.example", "pw")
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_project", "change_project"]))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    assert_error(client.get("/api/orchestration/runs/"), 403)
    assert_error(client.post(f"/api/orchestration/runs/{failed_run.id}/replay", {}, format="json"), 403)


def test_a_deactivated_integration_is_refused_whatever_it_holds(failed_run: WorkflowRun) -> None:
    client, user = _integration(*READ, *ACT)
    user.is_active = False
    user.save()

    assert client.get("/api/orchestration/runs/").status_code in (401, 403)
    assert WorkflowRun.objects.get(id=failed_run.id).status == RunStatus.FAILED


def test_staff_keep_every_right_without_model_permissions(staff_client: APIClient, staff: User) -> None:
    assert not staff.user_permissions.exists()
    run = run_start(workflow="test-diamond")

    assert staff_client.get(f"/api/orchestration/runs/{run.id}/").status_code == 200
    assert staff_client.post(f"/api/orchestration/runs/{run.id}/cancel", {}, format="json").status_code == 200
