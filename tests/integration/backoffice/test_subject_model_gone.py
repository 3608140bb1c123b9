"""A run or a ledger row whose subject's model is gone (its app removed since the row was written)
still opens in the engine's admin, its subject shown as none, rather than failing the page."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from orchestration.models import SideEffect, Task, WorkflowRun
from orchestration.services import run_start
from orchestration.workflows import Step, Workflow

pytestmark = pytest.mark.django_db

CHORE = Workflow(name="test-subject-gone", version=1, steps=(Step("only", "engine.noop"),))


def test_rows_whose_subjects_model_is_gone_still_open_in_the_admin(superuser) -> None:
    gone = ContentType.objects.create(app_label="gone", model="thing")
    run = run_start(workflow=CHORE, idempotency_key="stale")
    WorkflowRun.objects.filter(pk=run.pk).update(subject_type=gone, subject_id=run.pk)
    effect = SideEffect.objects.create(key="stale:deploy", kind="deploy", subject_type=gone, subject_id=run.pk)
    task = Task.objects.get(run=run)
    client = Client()
    client.force_login(superuser)

    pages = [
        "/admin/orchestration/workflowrun/",
        f"/admin/orchestration/workflowrun/{run.pk}/change/",
        "/admin/orchestration/task/",
        f"/admin/orchestration/task/{task.pk}/change/",
        "/admin/orchestration/sideeffect/",
        f"/admin/orchestration/sideeffect/{effect.pk}/change/",
    ]

    assert {page: client.get(page).status_code for page in pages} == dict.fromkeys(pages, 200)
    assert WorkflowRun.objects.get(pk=run.pk).subject is None
