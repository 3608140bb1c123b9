"""An order with runs is never deleted: its runs are the record of what was done for it.

The run's link to its order is generic (the engine's `subject`), and Django deletes the objects
of a generic relation with the object, so the foreign key's PROTECT is said here: deleting a
project that has runs raises ProtectedError, inside the delete's transaction, so nothing goes.
"""

from __future__ import annotations

from typing import Any

from django.db.models import ProtectedError
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from orders.models import Project


@receiver(pre_delete, sender=Project, dispatch_uid="orders.project_runs_protected")
def refuse_deleting_a_project_with_runs(sender: type[Project], instance: Project, **kwargs: Any) -> None:
    runs = instance.runs.all()
    if runs.exists():
        raise ProtectedError(
            f"Cannot delete project {instance.pk}: the engine's runs for it are kept (the record of its order)",
            set(runs),
        )
