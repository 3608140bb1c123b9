"""Run real orders in the test process: intake, payment, then the engine's tick until the order ends."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings

from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import Task
from orders.models import Project, ProjectStatus
from orders.selectors import project_latest_run
from orders.services import project_create, project_mark_paid

TERMINAL = {ProjectStatus.DELIVERED, ProjectStatus.FAILED, ProjectStatus.CANCELLED}


def place_order(brief: dict[str, Any]) -> Project:
    """A paid order for `brief`, through the same services the intake API and the Stripe webhook call."""
    project = project_create(**brief)
    project, _run, started = project_mark_paid(
        project_id=project.id,
        checkout_session_id=f"cs_test_{secrets.token_hex(8)}",
        amount_cents=settings.ORDER_PRICE_CENTS,
        currency=settings.ORDER_CURRENCY,
    )
    assert started
    return project


def drive(project: Project, *, max_ticks: int = 40, budget_seconds: float = 60.0) -> Project:
    """Tick (inline mode, as `manage.py tick` does) until the order is delivered, failed or cancelled."""
    for _ in range(max_ticks):
        tick(budget=Budget.seconds(budget_seconds))
        project.refresh_from_db()
        if project.status in TERMINAL:
            return project
    raise AssertionError(f"order {project.business_name!r} still {project.status} after {max_ticks} ticks")


def run_order(brief: dict[str, Any]) -> Project:
    return drive(place_order(brief))


def step_tasks(project: Project) -> dict[str, Task]:
    run = project_latest_run(project)
    assert run is not None, f"{project} has no workflow run"
    return {task.step: task for task in run.tasks.all()}


def step_outputs(project: Project) -> dict[str, Any]:
    return {step: task.output for step, task in step_tasks(project).items()}
