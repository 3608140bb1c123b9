"""A run names what it is for as a generic subject, which orders reads as its project: the link
keeps the foreign key's meaning (an order with runs is never deleted) and its queries."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.db.models import ProtectedError

from orchestration.models import WorkflowRun
from orchestration.services import run_start
from orchestration.workflows import Step, Workflow
from orders.models import Project
from orders.selectors import project_of_run

pytestmark = pytest.mark.django_db

CHORE = Workflow(name="test-subject-chore", version=1, steps=(Step("only", "engine.noop"),))


def _project(name: str = "Bakery Lune") -> Project:
    return Project.objects.create(business_name=name, contact_email="lune@bakery.example", slug=name.lower()[:6])


def test_deleting_a_project_that_has_runs_is_refused_and_deletes_nothing() -> None:
    project = _project()
    run = run_start(workflow=CHORE, project=project)
    # Refused inside the delete's transaction (a savepoint here, as a caller's atomic block would be).
    with pytest.raises(ProtectedError), transaction.atomic():
        project.delete()
    with pytest.raises(ProtectedError), transaction.atomic():
        Project.objects.filter(pk=project.pk).delete()
    assert Project.objects.filter(pk=project.pk).exists() and WorkflowRun.objects.filter(pk=run.pk).exists()
    assert run.tasks.count() == 1


def test_a_project_without_runs_is_deleted() -> None:
    project = _project()
    project.delete()
    assert not Project.objects.filter(pk=project.pk).exists()


def test_runs_are_found_by_their_projects_fields_and_a_project_lists_its_runs() -> None:
    project, other = _project(), _project("Garage Nord")
    mine = run_start(workflow=CHORE, project=project, idempotency_key="mine")
    run_start(workflow=CHORE, subject=other, idempotency_key="other")
    assert list(WorkflowRun.objects.filter(project__business_name="Bakery Lune")) == [mine]
    assert list(WorkflowRun.objects.filter(project=project)) == [mine]
    assert list(project.runs.all()) == [mine]
    assert (mine.subject_id, project_of_run(mine)) == (project.pk, project)


def test_a_run_without_a_subject_runs_and_has_no_project() -> None:
    run = run_start(workflow=CHORE, idempotency_key="alone")
    fresh = WorkflowRun.objects.get(pk=run.pk)
    assert (fresh.subject_type, fresh.subject_id, fresh.subject) == (None, None, None)
    assert project_of_run(fresh) is None
