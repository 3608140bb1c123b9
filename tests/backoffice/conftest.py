"""Personas and engine states for the back office's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from orchestration.models import RunStatus, WorkflowRun
from orders.models import Project
from tests.backoffice.factories import order_run


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
def staff(db):
    return get_user_model().objects.create_superuser("staffer", "staff@studio.example", "pw-staff-123")


@pytest.fixture
def outsider(db):
    return get_user_model().objects.create_user("outsider", "out@example.com", "pw-out-123")


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
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
