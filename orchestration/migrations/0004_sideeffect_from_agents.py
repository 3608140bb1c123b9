"""The side-effect ledger moves from agents to the engine: in the migration state only (its table,
agents_sideeffect, stays as it is, rows and all), and its content type follows it, so the staff
permissions on it and the admin's log entries about it keep pointing at it."""

import django.db.models.deletion
from django.db import migrations, models


def _move_content_type(apps, schema_editor, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    moving = ContentType.objects.using(db).filter(app_label=source, model="sideeffect").first()
    if moving is None:
        return  # a fresh database: post_migrate makes the content type where the model now is
    there = ContentType.objects.using(db).filter(app_label=target, model="sideeffect").first()
    if there is not None:
        # Made by a post_migrate after the model had moved: the moving one carries what staff were
        # granted and did, so it wins; the log entries of the other are kept on it, the other
        # (with the permissions made beside it) goes.
        try:
            LogEntry = apps.get_model("admin", "LogEntry")
        except LookupError:
            LogEntry = None
        if LogEntry is not None:
            LogEntry.objects.using(db).filter(content_type=there).update(content_type=moving)
        there.delete()
    moving.app_label = target
    moving.save(update_fields=["app_label"])


def forwards(apps, schema_editor) -> None:
    _move_content_type(apps, schema_editor, "agents", "orchestration")


def backwards(apps, schema_editor) -> None:
    _move_content_type(apps, schema_editor, "orchestration", "agents")


class Migration(migrations.Migration):
    dependencies = [
        ("orchestration", "0003_task_attempt_base"),
        ("agents", "0004_side_effect_hold"),
        ("orders", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SideEffect",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("key", models.CharField(max_length=300, unique=True)),
                        ("kind", models.CharField(max_length=50)),
                        ("task_id", models.BigIntegerField(blank=True, null=True)),
                        (
                            "status",
                            models.CharField(
                                choices=[("pending", "Pending"), ("done", "Done")], default="pending", max_length=10
                            ),
                        ),
                        ("performed", models.PositiveIntegerField(default=0)),
                        ("result", models.JSONField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("done_at", models.DateTimeField(blank=True, null=True)),
                        ("held_by", models.CharField(blank=True, default="", max_length=200)),
                        ("held_until", models.DateTimeField(blank=True, null=True)),
                        (
                            "project",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                to="orders.project",
                            ),
                        ),
                    ],
                    options={"db_table": "agents_sideeffect", "ordering": ["-created_at"]},
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
