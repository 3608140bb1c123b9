"""The side-effect ledger is the engine's now (orchestration 0004): gone from this app's migration
state only; its table stays."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0004_side_effect_hold"),
        ("orchestration", "0004_sideeffect_from_agents"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="SideEffect")],
            database_operations=[],
        ),
    ]
