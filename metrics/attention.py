"""What needs a human now: the admin's home page, and the dashboard's first lists.

Each item is one line with its action: failed orders (their failing step and the cause in
words), late orders, payments refused (linked to the order they were for), orders
abandoned at checkout, and plain tasks that died. Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from django.db.models import Model

from metrics.causes import Cause
from metrics.incidents import Failure, run_failure
from metrics.rollups import late_orders
from orchestration.models import Task, TaskStatus
from orders.models import Project, ProjectStatus
from orders.selectors import project_latest_run

LIMIT = 50
# An order still unpaid after this long was abandoned at checkout (and worth a follow-up mail).
ABANDONED_AFTER = timedelta(hours=1)
ABANDONED_WINDOW = timedelta(days=14)  # older ones are history, not a to-do


@dataclass(frozen=True)
class FailedOrder:
    project: Project
    failure: Failure | None

    @property
    def cause(self) -> Cause | None:
        return self.failure.cause if self.failure else None


@dataclass(frozen=True)
class RefusedPayment:
    event: Model  # the payment inbox's row (gateway's WebhookEvent): the lists link its page
    project: Project | None
    reason: str  # in words


@dataclass
class Attention:
    failed: list[FailedOrder] = field(default_factory=list)
    late: list[Project] = field(default_factory=list)
    refused_payments: list[RefusedPayment] = field(default_factory=list)
    abandoned: list[Project] = field(default_factory=list)
    dead_tasks: list[Task] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (
            len(self.failed) + len(self.late) + len(self.refused_payments) + len(self.abandoned) + len(self.dead_tasks)
        )


def failed_orders(limit: int = LIMIT) -> list[FailedOrder]:
    items = []
    for project in Project.objects.filter(status=ProjectStatus.FAILED).order_by("-updated_at")[:limit]:
        run = project_latest_run(project)
        items.append(FailedOrder(project, run_failure(run) if run is not None else None))
    return items


class RefusedPaymentsReader(Protocol):
    def __call__(self, limit: int = LIMIT, *, project: Project | None = None) -> list[RefusedPayment]: ...


# The payment inbox is the HTTP surface's (gateway, the layer above metrics): gateway hands in its
# reader of refused payments when it starts (gateway/apps.py), so metrics lists them without
# importing it. Without one, no payment was refused that metrics could know of.
_refused_payments_reader: RefusedPaymentsReader | None = None


def register_refused_payments(reader: RefusedPaymentsReader) -> None:
    """Where `refused_payments` reads from (gateway.refused_payments.refused_payments)."""
    global _refused_payments_reader
    _refused_payments_reader = reader


def refused_payments(limit: int = LIMIT, *, project: Project | None = None) -> list[RefusedPayment]:
    """The payments refused (for `project` if given), newest first, each with its order and why."""
    if _refused_payments_reader is None:
        return []
    return _refused_payments_reader(limit, project=project)


def abandoned_orders(*, now: datetime, limit: int = LIMIT) -> list[Project]:
    return list(
        Project.objects.filter(
            status=ProjectStatus.AWAITING_PAYMENT,
            created_at__lt=now - ABANDONED_AFTER,
            created_at__gte=now - ABANDONED_WINDOW,
        )
        .exclude(id__in=_ids_with_refused_payment())
        .order_by("-created_at")[:limit]
    )


def _ids_with_refused_payment() -> list[str]:
    # An order whose payment was refused is listed there, with the reason; not twice.
    return [str(r.project.id) for r in refused_payments() if r.project is not None]


def needs_attention(*, now: datetime) -> Attention:
    return Attention(
        failed=failed_orders(),
        late=list(late_orders(now=now).order_by("paid_at")[:LIMIT]),
        refused_payments=refused_payments(),
        abandoned=abandoned_orders(now=now),
        dead_tasks=list(Task.objects.filter(run=None, status=TaskStatus.DEAD).order_by("-finished_at")[:LIMIT]),
    )
