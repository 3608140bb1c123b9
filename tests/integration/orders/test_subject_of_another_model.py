"""A run's subject is a content type and an id. A run for another model whose UUID happens to be an
order's id is not that order's run: it never moves the order, never shows under it, and is never
the run a `projectId` names."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from gateway.views.cron import _run_to_execute
from metrics.models import ErrorGroup
from metrics.receivers import record_failed_attempt
from orchestration.models import RunStatus, Task, WorkflowRun
from orchestration.services import run_start
from orchestration.workflows import Step, Workflow
from orders.models import Project, ProjectStatus
from orders.selectors import project_id_of_run, project_of_run
from orders.services import project_on_run_status

pytestmark = pytest.mark.django_db

CHORE = Workflow(name="test-subject-alien", version=1, steps=(Step("only", "engine.noop"),))


def _project(name: str) -> Project:
    return Project.objects.create(business_name=name, contact_email="owner@shop.example", slug=name.lower()[:6])


def _run_for_another_model_with_the_id_of(project: Project) -> WorkflowRun:
    run = run_start(workflow=CHORE, idempotency_key=f"alien-{project.pk}")
    WorkflowRun.objects.filter(pk=run.pk).update(
        subject_type=ContentType.objects.get_for_model(WorkflowRun), subject_id=project.pk
    )
    return WorkflowRun.objects.get(pk=run.pk)


def test_a_run_for_another_model_is_no_orders_run_though_its_id_is_the_orders() -> None:
    project = _project("Lune")
    alien = _run_for_another_model_with_the_id_of(project)

    assert project_id_of_run(alien) is None and project_of_run(alien) is None
    assert list(project.runs.all()) == []


def test_a_run_for_another_model_failing_leaves_the_order_with_the_same_id_alone() -> None:
    project = _project("Lune")
    before = project.status
    alien = _run_for_another_model_with_the_id_of(project)
    alien.status = RunStatus.FAILED

    project_on_run_status(alien)

    project.refresh_from_db()
    assert project.status == before != ProjectStatus.FAILED


def test_a_failed_attempt_of_a_run_for_another_model_is_not_counted_against_the_order() -> None:
    project = _project("Lune")
    alien = _run_for_another_model_with_the_id_of(project)
    task = Task.objects.get(run=alien)

    failure = {"error_type": "ValueError", "location": "x.py:1", "message": "boom", "traceback": ""}
    record_failed_attempt(task=task, run=alien, **failure)

    group = ErrorGroup.objects.get(last_task_id=task.id)
    assert group.last_project_id is None and group.project_ids == []


def test_the_run_list_of_an_order_holds_only_its_own_runs(superuser) -> None:
    project = _project("Lune")
    own = run_start(workflow=CHORE, project=project, idempotency_key="own")
    alien = _run_for_another_model_with_the_id_of(project)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=superuser).key}")

    body = client.get(f"/api/orchestration/runs/?project={project.pk}").json()
    listed = {run["id"]: run["project"] for run in body.get("results", body)}
    everything = client.get("/api/orchestration/runs/").json()
    projects = {run["id"]: run["project"] for run in everything.get("results", everything)}

    assert listed == {str(own.pk): str(project.pk)}
    assert projects[str(alien.pk)] is None


def test_the_execute_route_given_an_orders_id_runs_that_orders_latest_run() -> None:
    project = _project("Lune")
    own = run_start(workflow=CHORE, project=project, idempotency_key="own")
    alien = _run_for_another_model_with_the_id_of(project)

    assert _run_to_execute(None, project.pk) == own.pk
    with pytest.raises(Exception, match="No workflow run"):
        _run_to_execute(alien.pk, project.pk)
