"""The run's foreign key into orders goes, once every run names its subject (0009)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orchestration", "0009_workflowrun_subject_from_project"),
    ]

    operations = [
        migrations.RemoveField(model_name="workflowrun", name="project"),
        migrations.AddIndex(
            model_name="workflowrun",
            index=models.Index(fields=["subject_type", "subject_id"], name="run_subject"),
        ),
    ]
