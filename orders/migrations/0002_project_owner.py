"""Projects get an owner: who may read them over the API (staff see all).

Rows made before owners existed have no known creator. They are given one user made for the purpose,
`orders-before-owners` (inactive, no password, not staff), so that no API token reads them: staff
see them as before and can hand each one to its integration's user in the admin.
"""

from django.conf import settings
from django.db import migrations, models
from django.db.models.deletion import SET_NULL

LEGACY_OWNER = "orders-before-owners"


def give_existing_rows_an_owner(apps, schema_editor):
    Project = apps.get_model("orders", "Project")
    unowned = Project.objects.filter(owner__isnull=True)
    if not unowned.exists():
        return
    app_label, model_name = settings.AUTH_USER_MODEL.split(".")
    User = apps.get_model(app_label, model_name)
    owner, created = User.objects.get_or_create(
        username=LEGACY_OWNER,  # historical models carry no USERNAME_FIELD; the project uses auth.User
        defaults={"is_active": False, "is_staff": False},
    )
    if created:
        owner.password = "!"  # an unusable password: nobody signs in as this user
        owner.save(update_fields=["password"])
    unowned.update(owner=owner)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=SET_NULL,
                related_name="projects",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(give_existing_rows_an_owner, migrations.RunPython.noop),
    ]
