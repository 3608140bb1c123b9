"""Cron routes (bearer CRON_SECRET) and the engine's signed execute route: they run the engine
within their budgets, never redirect, and refuse anyone else."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import ContactMessage
from metrics.models import Rollup
from orchestration.models import RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.services import enqueue, run_start
from orders.models import Project
from tests.integration.gateway.conftest import CRON_SECRET, OTHER_SECRET, assert_error, logged, post_signed

pytestmark = pytest.mark.django_db

BEARER = {"HTTP_AUTHORIZATION": f"Bearer {CRON_SECRET}"}


def test_the_cron_tick_runs_due_work_and_reports_it(api: APIClient) -> None:
    run = run_start(workflow="test-diamond")

    response = api.get("/api/orchestration/workflow", **BEARER)

    assert response.status_code == 200, response.content
    assert response.json()["succeeded"] == 4
    assert WorkflowRun.objects.get(id=run.id).status == RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    "authorization",
    [None, "", f"Bearer {CRON_SECRET}x", f"bearer {CRON_SECRET}", CRON_SECRET, f"Token {CRON_SECRET}", "Bearer "],
)
def test_the_cron_tick_refuses_anything_but_the_exact_bearer(api: APIClient, authorization: str | None) -> None:
    enqueue("engine.noop")
    extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}

    assert_error(api.get("/api/orchestration/workflow", **extra), 401, "unauthorized")
    assert Task.objects.get().status == TaskStatus.QUEUED


def test_no_cron_secret_configured_means_no_cron_call_is_accepted(api: APIClient, settings: Any) -> None:
    settings.CRON_SECRET = ""

    assert_error(api.get("/api/orchestration/workflow", HTTP_AUTHORIZATION="Bearer "), 401)


@pytest.mark.parametrize("path", ["/api/orchestration/workflow", "/api/system/metrics"])
def test_cron_paths_never_redirect(api: APIClient, path: str) -> None:
    assert api.get(path, **BEARER).status_code == 200
    assert api.get(path).status_code in (401, 403)
    assert api.get(path + "/", **BEARER).status_code == 404  # no APPEND_SLASH redirect either


@pytest.mark.django_db(transaction=True)
def test_two_ticks_at_once_run_each_task_exactly_once() -> None:
    for _ in range(30):
        enqueue("engine.noop")
    results: list[dict[str, int]] = []

    def cron() -> None:
        try:
            results.append(APIClient().get("/api/orchestration/workflow", **BEARER).json())
        finally:
            connection.close()

    threads = [threading.Thread(target=cron) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(r["succeeded"] for r in results) == 30
    assert Task.objects.filter(status=TaskStatus.SUCCEEDED).count() == 30


def test_the_metrics_cron_rolls_up(api: APIClient, staff_client: APIClient, outsider_client: APIClient) -> None:
    response = api.get("/api/system/metrics", **BEARER)

    assert response.status_code == 200, response.content
    assert Rollup.objects.count() == 1
    assert staff_client.get("/api/system/metrics").status_code == 200  # staff may run it by hand
    assert outsider_client.get("/api/system/metrics").status_code == 403
    assert Rollup.objects.count() == 1  # one row per window, however often it runs


def test_the_metrics_cron_deletes_contact_messages_past_their_retention(api: APIClient, settings: Any) -> None:
    # vercel.json has no other cron: without this, the privacy page's "kept N months, then erased" is untrue there.
    project = Project.objects.create(business_name="Bakery", contact_email="b@bakery.example", slug="bakery")
    old, recent = (
        ContactMessage.objects.create(project=project, name="A", email="a@a.example", message=text, digest=text)
        for text in ("old", "recent")
    )
    ContactMessage.objects.filter(id=old.id).update(
        created_at=timezone.now() - timedelta(days=settings.CONTACT_RETENTION_DAYS + 1)
    )

    response = api.get("/api/system/metrics", **BEARER)

    assert response.status_code == 200, response.content
    assert response.json()["pruned_contact_messages"] == 1
    assert list(ContactMessage.objects.values_list("id", flat=True)) == [recent.id]


def test_execute_runs_only_the_named_runs_work(api: APIClient) -> None:
    mine = run_start(workflow="test-diamond")
    other = run_start(workflow="test-diamond")

    response = post_signed(api, "/api/workflows/execute", {"runId": str(mine.id)})

    assert response.status_code == 200, response.content
    assert response.json()["succeeded"] == 4
    assert WorkflowRun.objects.get(id=mine.id).status == RunStatus.SUCCEEDED
    assert not Task.objects.filter(run=other, status=TaskStatus.SUCCEEDED).exists()


def test_execute_refuses_an_unsigned_or_badly_signed_call(api: APIClient) -> None:
    run = run_start(workflow="test-diamond")

    assert_error(api.post("/api/workflows/execute", {"runId": str(run.id)}, format="json"), 400, "bad_signature")
    assert_error(post_signed(api, "/api/workflows/execute", {"runId": str(run.id)}, secret=OTHER_SECRET), 400)
    assert_error(post_signed(api, "/api/workflows/execute", {"runId": "nope"}), 400, "invalid")
    assert not Task.objects.filter(status=TaskStatus.SUCCEEDED).exists()


def test_execute_kicks_itself_again_when_ready_work_is_left(api: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    kicked: list[Any] = []
    monkeypatch.setattr("orchestration.dispatch.kick", lambda run_id=None: kicked.append(run_id))
    monkeypatch.setattr("orchestration.budget.Budget.expired", lambda self: True)  # out of time at once
    run = run_start(workflow="test-diamond")

    response = post_signed(api, "/api/workflows/execute", {"runId": str(run.id)})

    assert response.status_code == 200
    assert kicked == [run.id]


def _nothing_ran(*runs: WorkflowRun) -> None:
    for run in runs:
        assert not Task.objects.filter(run=run).exclude(status__in=[TaskStatus.QUEUED, TaskStatus.WAITING]).exists()


def test_execute_refuses_an_unknown_run_and_runs_nothing(
    api: APIClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    kicked: list[Any] = []
    monkeypatch.setattr("orchestration.dispatch.kick", lambda run_id=None: kicked.append(run_id))
    someone_elses = run_start(workflow="test-diamond")
    unknown = uuid.uuid4()

    response = post_signed(api, "/api/workflows/execute", {"runId": str(unknown)})

    error = assert_error(response, 404, "unknown_run")
    assert str(unknown) in error["message"]
    _nothing_ran(someone_elses)
    assert kicked == []
    assert [r.code for r in logged(caplog, "api_error")] == ["unknown_run"]


def test_execute_refuses_an_unknown_project_instead_of_ticking_over_all_work(api: APIClient, project: Project) -> None:
    someone_elses = run_start(workflow="test-diamond")

    unknown = post_signed(api, "/api/workflows/execute", {"projectId": str(uuid.uuid4())})
    without_run = post_signed(api, "/api/workflows/execute", {"projectId": str(project.id)})

    assert_error(unknown, 404, "unknown_project")
    error = assert_error(without_run, 404, "unknown_project")
    assert str(project.id) in error["message"]
    _nothing_ran(someone_elses)


def test_execute_refuses_a_run_that_is_not_the_named_projects(api: APIClient, project: Project) -> None:
    other = run_start(workflow="test-diamond")

    response = post_signed(api, "/api/workflows/execute", {"runId": str(other.id), "projectId": str(project.id)})

    assert_error(response, 404, "unknown_run")
    _nothing_ran(other)


def test_execute_by_project_runs_that_projects_run_only(api: APIClient, project: Project) -> None:
    mine = run_start(workflow="test-diamond", project=project)
    other = run_start(workflow="test-diamond")

    response = post_signed(api, "/api/workflows/execute", {"projectId": str(project.id)})

    assert response.status_code == 200, response.content
    assert response.json()["succeeded"] == 4
    assert WorkflowRun.objects.get(id=mine.id).status == RunStatus.SUCCEEDED
    _nothing_ran(other)


def test_execute_without_a_run_or_project_runs_ready_work_of_any_run(api: APIClient) -> None:
    """The engine's own kick after a commit names no run: it drains what is ready, as before."""
    runs = [run_start(workflow="test-diamond") for _ in range(2)]

    response = post_signed(api, "/api/workflows/execute", {"runId": None})

    assert response.status_code == 200
    assert response.json()["succeeded"] == 8
    assert {WorkflowRun.objects.get(id=r.id).status for r in runs} == {RunStatus.SUCCEEDED}
