"""`manage.py replay_workflow <project-id|slug|run-id>`: replay a failed or cancelled run.

Here, in orders, and not in the engine: it finds a run by its order (project id or slug); the
engine knows runs, not what they are for."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestration.cli import text
from orchestration.exceptions import OrchestrationError
from orchestration.models import WorkflowRun
from orchestration.services import Actor, replay_plan, run_can_replay, run_replay
from orders.models import Project


def find_run(ref: str) -> WorkflowRun:
    """A run by its id, or the latest run of a project given by id or slug."""
    try:
        key = uuid.UUID(ref)
    except ValueError:
        project = Project.objects.filter(slug=ref).first()
    else:
        run = WorkflowRun.objects.filter(id=key).first()
        if run is not None:
            return run
        project = Project.objects.filter(id=key).first()
    if project is None:
        raise CommandError(f"No workflow run or project matches {ref!r} (give a run id, a project id or a slug)")
    run = project.runs.order_by("-created_at").first()
    if run is None:
        raise CommandError(f"Project {project.business_name!r} ({project.id}) has no workflow run yet")
    return run


class Command(BaseCommand):
    help = "Replay a failed or cancelled workflow run: its failed steps (default), from scratch, or from a step."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ref", type=text, help="a run id, a project id or a project slug (its latest run)")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--from-scratch", action="store_true", help="rerun every step")
        mode.add_argument("--from-step", metavar="STEP", help="rerun STEP and every step after it")
        parser.add_argument("--dry-run", action="store_true", help="say what would be replayed and change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        run = find_run(options["ref"])
        mode = "scratch" if options["from_scratch"] else "step" if options["from_step"] else "failed"
        from_step = options["from_step"]
        if refusal := run_can_replay(run, mode=mode):
            raise CommandError(refusal)
        try:
            steps = replay_plan(run, mode=mode, from_step=from_step)
        except OrchestrationError as exc:
            raise CommandError(str(exc)) from exc
        summary = f"run {run.id} ({run.workflow}, {run.status}): {len(steps)} step(s): {', '.join(steps)}"
        if options["dry_run"]:
            self.stdout.write(f"Would replay {summary}")
            return
        try:
            run_replay(run=run, actor=Actor(label="command:replay_workflow"), mode=mode, from_step=from_step)
        except OrchestrationError as exc:  # the run changed state since we looked
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Replaying {summary}"))
