"""A run names what it is for generically (its subject: content type and UUID), not by a foreign
key into orders: the columns (0009 fills them, 0010 drops the foreign key, each in a migration of
its own, so PostgreSQL never alters the table with the rows' update pending)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orchestration", "0007_sideeffect_without_project"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AddField(
            model_name="workflowrun",
            name="subject_type",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="contenttypes.contenttype",
            ),
        ),
        migrations.AddField(
            model_name="workflowrun",
            name="subject_id",
            field=models.UUIDField(blank=True, null=True),
        ),
    ]
