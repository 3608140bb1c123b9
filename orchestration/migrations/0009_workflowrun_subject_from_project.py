"""Every run that named a project names it as its subject (and back)."""

from django.db import migrations
from django.db.models import F


def _project_type(apps, db):
    ContentType = apps.get_model("contenttypes", "ContentType")
    return ContentType.objects.using(db).get_or_create(app_label="orders", model="project")[0]


def forwards(apps, schema_editor) -> None:
    db = schema_editor.connection.alias
    WorkflowRun = apps.get_model("orchestration", "WorkflowRun")
    rows = WorkflowRun.objects.using(db).filter(project__isnull=False)
    if rows.exists():
        rows.update(subject_type=_project_type(apps, db), subject_id=F("project_id"))


def backwards(apps, schema_editor) -> None:
    db = schema_editor.connection.alias
    WorkflowRun = apps.get_model("orchestration", "WorkflowRun")
    WorkflowRun.objects.using(db).filter(subject_type=_project_type(apps, db)).update(project_id=F("subject_id"))


class Migration(migrations.Migration):
    dependencies = [
        ("orchestration", "0008_workflowrun_subject"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
