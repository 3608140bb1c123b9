"""Orders driven by real engine runs, for the back office's tests (and the browser test)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from orchestration import clock
from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import WorkflowRun
from orchestration.registry import TaskContext, action
from orchestration.services import run_start
from orchestration.workflows import Step, Workflow, register_workflow
from orders.models import Project, ProjectStatus
from orders.services import project_create
from tests.actions import FRAGILE

# test-fragile's steps with the order workflow's hook, so the project follows its run
# (failed, in progress again after a replay, delivered) exactly as a real order does.
ORDERED_FRAGILE = register_workflow(
    Workflow(
        name="backoffice-fragile",
        version=1,
        on_finish="orders.services.project_on_run_status",
        steps=FRAGILE.steps,
    )
)


@action("design-ia.log_inside")
def log_inside(ctx: TaskContext) -> dict[str, Any]:
    """Logs as a provider does (through the provider's own logger, no ids passed)."""
    logging.getLogger("agents.providers.llm").info("model answered", extra={"action": "llm.answer"})
    return {"logged": True}


# One step that logs: the structured-logging tests read what it wrote.
LOGGING_WORKFLOW = register_workflow(
    Workflow(name="backoffice-logs", version=1, steps=(Step("copy", "design-ia.log_inside"),))
)


def drain() -> None:
    """Run every due task now (the engine's own tick, in this process)."""
    tick(budget=Budget.seconds(30))


def paid_order(*, email: str = "alice@bakery.example", name: str = "Alice's Bakery", slug: str = "alice") -> Project:
    project = project_create(business_name=name, contact_email=email, city="Lyon", sector="bakery")
    Project.objects.filter(pk=project.pk).update(status=ProjectStatus.PAID, paid_at=clock.now(), slug=slug)
    project.refresh_from_db()
    return project


def order_run(flag: Path, **order: str) -> tuple[Project, WorkflowRun]:
    """A paid order whose run of test-fragile's steps has been ticked: it fails at step c
    unless `flag` exists."""
    project = paid_order(**order)
    run = run_start(workflow=ORDERED_FRAGILE.name, project=project, input={"flag": str(flag)})
    drain()
    run.refresh_from_db()
    project.refresh_from_db()
    return project, run
