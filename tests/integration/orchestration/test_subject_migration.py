"""The migrations that cut the engine loose from orders keep every row: the side-effect ledger
moves from agents to the engine with its table, its rows and its content type (the staff
permissions and log entries on it), and a run's or a ledger row's project becomes its subject."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from orchestration.models import SideEffect, WorkflowRun
from orders.models import Project

MOVED = [("orchestration", "0003_task_attempt_base"), ("agents", "0004_side_effect_hold")]


def migrate(targets: list[tuple[str, str]]):
    """Migrate the test database to `targets`; the apps (historical models) as they are there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def before() -> list[tuple[str, str]]:
    """The engine and agents before the move, every other app as it is now."""
    moved = {app for app, _ in MOVED}
    return MOVED + [(app, name) for app, name in latest() if app not in moved]


@pytest.fixture
def before_the_move(transactional_db) -> Iterator:
    apps = migrate(before())
    try:
        yield apps
    finally:
        migrate(latest())
        ContentType.objects.clear_cache()


def _old_rows(apps) -> tuple[object, object, int, int]:
    """A project, a run and a ledger row of it, made as the tables stood (a foreign key to the
    project), a run of no project, and the ledger's content type with a staff permission on it."""
    OldProject = apps.get_model("orders", "Project")
    OldRun = apps.get_model("orchestration", "WorkflowRun")
    OldEffect = apps.get_model("agents", "SideEffect")
    OldType = apps.get_model("contenttypes", "ContentType")
    OldPermission = apps.get_model("auth", "Permission")
    project = OldProject.objects.create(business_name="Bakery", contact_email="a@bakery.example")
    effect = OldEffect.objects.create(key="k:deploy", kind="deploy", project=project, task_id=7, performed=1)
    OldRun.objects.create(workflow="order", version=2, definition={"steps": []}, project=project, idempotency_key="o")
    OldRun.objects.create(workflow="chore", version=1, definition={"steps": []}, idempotency_key="c")
    kind, _ = OldType.objects.get_or_create(app_label="agents", model="sideeffect")
    permission, _ = OldPermission.objects.get_or_create(
        content_type=kind, codename="view_sideeffect", defaults={"name": "Can view side effect"}
    )
    return project, effect, kind.pk, permission.pk


def test_the_ledger_moves_to_the_engine_with_every_row_and_its_content_type(before_the_move) -> None:
    project, effect, kind_pk, permission_pk = _old_rows(before_the_move)
    # The engine's content type is absent before the move (the fixture's migration back renamed it).
    assert not ContentType.objects.filter(app_label="orchestration", model="sideeffect").exists()

    migrate(latest())
    ContentType.objects.clear_cache()

    row = SideEffect.objects.get()
    assert (row.pk, row.key, row.kind, row.task_id, row.performed) == (effect.pk, "k:deploy", "deploy", 7, 1)
    assert row.subject == Project.objects.get(pk=project.pk)
    assert row.subject_type == ContentType.objects.get_for_model(Project)
    order, chore = WorkflowRun.objects.get(idempotency_key="o"), WorkflowRun.objects.get(idempotency_key="c")
    assert (order.workflow, order.subject, order.subject_id) == ("order", row.subject, project.pk)
    assert (chore.subject_type, chore.subject_id) == (None, None)
    assert list(Project.objects.get(pk=project.pk).runs.all()) == [order]
    moved = ContentType.objects.get(app_label="orchestration", model="sideeffect")
    assert moved.pk == kind_pk and moved.permission_set.filter(pk=permission_pk).exists()
    assert not ContentType.objects.filter(app_label="agents", model="sideeffect").exists()


def test_a_content_type_made_beside_the_old_one_gives_way_to_it(before_the_move) -> None:
    _, _, kind_pk, permission_pk = _old_rows(before_the_move)
    made = ContentType.objects.create(app_label="orchestration", model="sideeffect")  # as by a post_migrate

    migrate(latest())
    ContentType.objects.clear_cache()

    moved = ContentType.objects.get(app_label="orchestration", model="sideeffect")
    assert moved.pk == kind_pk != made.pk
    assert moved.permission_set.filter(pk=permission_pk).exists()


def test_the_move_goes_back_too(before_the_move) -> None:
    project, _, kind_pk, _ = _old_rows(before_the_move)
    migrate(latest())
    apps = migrate(before())
    back = apps.get_model("agents", "SideEffect").objects.get()
    assert back.project_id == project.pk
    runs = apps.get_model("orchestration", "WorkflowRun").objects
    assert (runs.get(idempotency_key="o").project_id, runs.get(idempotency_key="c").project_id) == (project.pk, None)
    assert (
        apps.get_model("contenttypes", "ContentType").objects.get(app_label="agents", model="sideeffect").pk == kind_pk
    )
