"""The migrations that cut the engine loose from orders keep every row: the side-effect ledger
moves from agents to the engine with its table, its rows and its content type (the staff
permissions and log entries on it), and a ledger row's project becomes its subject."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from orchestration.models import SideEffect
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
    """A project and one ledger row of it, made as the agents' table stood, and the ledger's
    content type with a staff permission on it."""
    OldProject = apps.get_model("orders", "Project")
    OldEffect = apps.get_model("agents", "SideEffect")
    OldType = apps.get_model("contenttypes", "ContentType")
    OldPermission = apps.get_model("auth", "Permission")
    project = OldProject.objects.create(business_name="Bakery", contact_email="a@bakery.example")
    effect = OldEffect.objects.create(key="k:deploy", kind="deploy", project=project, task_id=7, performed=1)
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
    assert (
        apps.get_model("contenttypes", "ContentType").objects.get(app_label="agents", model="sideeffect").pk == kind_pk
    )
