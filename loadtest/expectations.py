"""What the fault plan dooms, computed from the plan alone: the orders that must fail, and which
paid orders count as lost."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from loadtest.faults import PERMANENT, FaultPlan
from orders.models import ProjectStatus


@dataclass(frozen=True)
class TaskFacts:
    id: int
    project_id: Any
    max_attempts: int
    timeout_seconds: float


def task_dies(
    plan: FaultPlan, task: TaskFacts, lost_attempts: Iterable[int] = (), clean_attempts: Iterable[int] = ()
) -> bool:
    """Whether the plan kills this task for good: a permanent fault, or every attempt failing.

    `lost_attempts` are attempts lost to something the plan does not inject (a database
    restart under a running attempt): each one costs an attempt, and the next one follows the plan.
    `clean_attempts` ran where the plan is not applied (the agents' HTTP server): they succeed.
    """
    lost, clean = set(lost_attempts), set(clean_attempts)
    for attempt in range(1, task.max_attempts + 1):
        if attempt in lost:
            continue
        if attempt in clean:
            return False
        fault = plan.fault_for(
            task_id=task.id, attempt=attempt, max_attempts=task.max_attempts, timeout_seconds=task.timeout_seconds
        )
        if fault == PERMANENT:
            return True
        if fault is None:
            return False
    return True


def doomed_projects(
    plan: FaultPlan,
    tasks: Iterable[TaskFacts],
    lost: dict[int, set[int]],
    clean: dict[int, set[int]] | None = None,
) -> set[Any]:
    """The projects that must fail: any of their steps dies (a step after a dead one never runs,
    but its project has failed already)."""
    clean = clean or {}
    return {t.project_id for t in tasks if task_dies(plan, t, lost.get(t.id, ()), clean.get(t.id, ()))}


def count_lost(statuses: dict[Any, str], runs: dict[Any, int], cancelled_by_operator: set[Any]) -> int:
    """Lost: the customer paid (the driver's payment reached the webhook, or should have) and the
    order has no run, or is neither delivered nor failed for good; cancelled counts as finished
    only for an order whose last operator act was a cancel."""
    return sum(
        not runs.get(pid)
        or (
            status not in (ProjectStatus.DELIVERED, ProjectStatus.FAILED)
            and not (pid in cancelled_by_operator and status == ProjectStatus.CANCELLED)
        )
        for pid, status in statuses.items()
    )
