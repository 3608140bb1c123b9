"""`manage.py replay_task <id>`: retry a dead task of a failed run now, or run a queued one at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from orchestration.cli import positive_int
from orchestration.exceptions import OrchestrationError
from orchestration.models import Task
from orchestration.services import Actor, task_retry


class _DryRun(Exception):
    """Raised to roll back the real retry after reading its result."""


class Command(BaseCommand):
    help = "Retry one task now: a dead task of a failed run gets fresh attempts; a queued task runs at once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task_id", type=positive_int, help="the task's id")
        parser.add_argument("--dry-run", action="store_true", help="say what would happen and change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        task = Task.objects.filter(id=options["task_id"]).first()
        if task is None:
            raise CommandError(f"No task {options['task_id']}")
        before = f"task {task.id} ({task.step or task.action}, {task.status}, attempt {task.attempt})"
        actor = Actor(label="command:replay_task")
        try:
            # A dry run performs the very same service call and rolls it back, so its verdict
            # (allowed or refused, and the state it leads to) is the engine's own, not a copy.
            with transaction.atomic():
                after = task_retry(task=task, actor=actor)
                if options["dry_run"]:
                    raise _DryRun
        except _DryRun:
            self.stdout.write(f"Would retry {before}: it would become {after.status} (nothing changed)")
            return
        except OrchestrationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Retried {before}: now {after.status}"))
