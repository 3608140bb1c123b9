"""The ledger's foreign key into orders goes, once its rows name their subject (0006)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orchestration", "0006_sideeffect_subject_from_project"),
    ]

    operations = [
        migrations.RemoveField(model_name="sideeffect", name="project"),
        migrations.AddIndex(
            model_name="sideeffect",
            index=models.Index(fields=["subject_type", "subject_id"], name="sideeffect_subject"),
        ),
    ]
