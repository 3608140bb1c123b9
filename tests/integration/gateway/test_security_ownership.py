"""Issue 14, "nobody reads what is not theirs": a project belongs to the user whose token (or staff
session) created it; a non-staff caller lists, reads and acts on only their own, through every
project route and the orchestration API, and gets the same 404 for another's as for an unknown id."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import OperatorAction, RunStatus, Task, WorkflowRun
from orchestration.services import run_start
from orders.models import Project
from tests.integration.gateway.conftest import BRIEF, assert_error

pytestmark = pytest.mark.django_db

ENGINE_PERMISSIONS = ("view_workflowrun", "view_task", "change_workflowrun", "change_task")


def _customer(name: str) -> tuple[APIClient, User]:
    """An integration's token user holding every orchestration permission (the most it can be
    granted short of staff): ownership, not permissions, is what keeps customers apart."""
    user = User.objects.create_user(name, f"{name}@example.com", "pw")
    user.user_permissions.set(Permission.objects.filter(codename__in=ENGINE_PERMISSIONS))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client, user


@pytest.fixture
def alice() -> tuple[APIClient, User]:
    return _customer("alice-shop")


@pytest.fixture
def bob() -> tuple[APIClient, User]:
    return _customer("bob-shop")


def _create(client: APIClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/projects/", {**BRIEF, **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_project_belongs_to_the_user_whose_token_created_it(alice: Any) -> None:
    client, user = alice
    body = _create(client)

    assert Project.objects.get(id=body["id"]).owner == user


def test_another_customers_project_is_a_404_like_an_unknown_one(alice: Any, bob: Any) -> None:
    project = _create(alice[0], contact_email="secret@alice.example")

    response = bob[0].get(f"/api/projects/{project['id']}/")

    error = assert_error(response, 404, "unknown_project")
    assert "secret@alice.example" not in response.content.decode()
    assert project["status_url"] not in response.content.decode()
    assert error["message"]
    assert alice[0].get(f"/api/projects/{project['id']}/").status_code == 200


def test_each_customer_lists_only_their_own_projects_and_staff_list_all(
    alice: Any, bob: Any, staff_client: APIClient
) -> None:
    mine = {_create(alice[0])["id"] for _ in range(2)}
    theirs = {_create(bob[0], business_name="Plomberie Bob")["id"]}

    def listed(client: APIClient) -> set[str]:
        response = client.get("/api/projects/")
        assert response.status_code == 200, response.content
        return {p["id"] for p in response.json()["results"]}

    assert listed(alice[0]) == mine
    assert listed(bob[0]) == theirs
    assert listed(staff_client) == mine | theirs


@pytest.fixture
def alices_failed_run(alice: Any, tmp_path: Any) -> WorkflowRun:
    project = Project.objects.get(id=_create(alice[0])["id"])
    run = run_start(workflow="test-fragile", input={"flag": str(tmp_path / "flag")}, project=project)
    tick(budget=Budget.seconds(30))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    return run


def test_the_orchestration_api_shows_a_customer_only_the_runs_of_their_own_projects(
    alice: Any, bob: Any, staff_client: APIClient, alices_failed_run: WorkflowRun
) -> None:
    run = alices_failed_run
    dead = Task.objects.get(run=run, step="c")
    client = bob[0]

    assert client.get("/api/orchestration/runs/").json()["count"] == 0
    assert client.get(f"/api/orchestration/runs/?project={run.subject_id}").json()["count"] == 0
    assert_error(client.get(f"/api/orchestration/runs/{run.id}/"), 404, "unknown_run")
    assert_error(client.post(f"/api/orchestration/runs/{run.id}/replay", {}, format="json"), 404, "unknown_run")
    assert_error(client.post(f"/api/orchestration/runs/{run.id}/cancel", {}, format="json"), 404, "unknown_run")
    assert_error(client.post(f"/api/orchestration/tasks/{dead.id}/retry"), 404, "unknown_task")
    assert WorkflowRun.objects.get(id=run.id).status == RunStatus.FAILED
    assert not OperatorAction.objects.exists()

    assert alice[0].get("/api/orchestration/runs/").json()["count"] == 1
    assert alice[0].get(f"/api/orchestration/runs/{run.id}/").status_code == 200
    assert staff_client.get(f"/api/orchestration/runs/{run.id}/").status_code == 200


def test_runs_without_a_project_are_for_staff_only(alice: Any, staff_client: APIClient) -> None:
    run = run_start(workflow="test-diamond")

    assert_error(alice[0].get(f"/api/orchestration/runs/{run.id}/"), 404, "unknown_run")
    assert staff_client.get(f"/api/orchestration/runs/{run.id}/").status_code == 200


def test_the_migration_gives_existing_projects_an_owner_no_token_can_use(transactional_db: Any) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("orders", "0001_initial")])
    old = executor.loader.project_state([("orders", "0001_initial")]).apps.get_model("orders", "Project")
    old.objects.create(business_name="Before owners", contact_email="old@example.com", pages=["Home"])

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    project = Project.objects.get(business_name="Before owners")
    assert project.owner is not None and project.owner.username == "orders-before-owners"
    assert not project.owner.is_active and not project.owner.is_staff and not project.owner.has_usable_password()
