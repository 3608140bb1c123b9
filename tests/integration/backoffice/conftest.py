"""Personas and engine states for the back office's tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from gateway.models import WebhookEvent
from metrics.models import ErrorGroup
from orchestration.models import AgentRun, OperatorAction, RunStatus, Task, WorkflowRun
from orders.models import Project
from tests.support.factories import order_run

# Every table an operator act could touch: a refusal must leave each one as it was.
WATCHED = (WorkflowRun, Task, AgentRun, OperatorAction, LogEntry, Project, WebhookEvent, ErrorGroup)


@pytest.fixture
def db_rows() -> Callable[[], dict[str, list[dict[str, Any]]]]:
    """A function returning every row of the watched tables, for before/after comparisons."""

    def snapshot() -> dict[str, list[dict[str, Any]]]:
        return {model._meta.label: list(model.objects.order_by("pk").values()) for model in WATCHED}

    return snapshot


@pytest.fixture(autouse=True)
def plain_static_files(settings, tmp_path_factory):
    """The admin's pages without collectstatic: production's manifest storage needs its manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # WhiteNoise warns about a missing STATIC_ROOT; the finders serve the files in tests.
    settings.STATIC_ROOT = str(tmp_path_factory.mktemp("static"))


@pytest.fixture
def staff_client(superuser) -> Client:
    """The back office signed in as its owner (tests/conftest.py: superuser)."""
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def flag(tmp_path: Path) -> Path:
    """The file whose existence lets step c of test-fragile succeed."""
    return tmp_path / "flag"


@pytest.fixture
def failed_order(db, flag: Path) -> tuple[Project, WorkflowRun]:
    project, run = order_run(flag)
    assert run.status == RunStatus.FAILED
    return project, run


@pytest.fixture
def delivered_order(db, tmp_path: Path) -> tuple[Project, WorkflowRun]:
    ok = tmp_path / "ok-flag"
    ok.touch()
    project, run = order_run(ok, email="bob@garage.example", name="Bob's Garage", slug="bob")
    assert run.status == RunStatus.SUCCEEDED
    return project, run
