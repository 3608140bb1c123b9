"""Reads on orders: progress and timings, for the API, the status page and the admin."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from orchestration import clock
from orchestration.models import TaskStatus, WorkflowRun
from orders.models import Project


def project_latest_run(project: Project) -> WorkflowRun | None:
    return project.runs.order_by("-created_at").first()


def project_progress(project: Project) -> dict[str, int]:
    """{"done": steps succeeded, "total": steps} of the latest run (0/0 before payment)."""
    run = project_latest_run(project)
    if run is None:
        return {"done": 0, "total": 0}
    statuses = list(run.tasks.values_list("status", flat=True))
    return {"done": sum(s == TaskStatus.SUCCEEDED for s in statuses), "total": len(statuses)}


def project_elapsed_seconds(project: Project) -> float | None:
    """Seconds from payment to delivery (or to now while it is under way)."""
    if project.paid_at is None:
        return None
    end = project.delivered_at or clock.now()
    return (end - project.paid_at).total_seconds()


def project_timing(project: Project) -> dict[str, Any]:
    elapsed = project_elapsed_seconds(project)
    slo = settings.ORDER_SLO_SECONDS
    return {"elapsed_seconds": elapsed, "slo_seconds": slo, "late": elapsed is not None and elapsed > slo}
