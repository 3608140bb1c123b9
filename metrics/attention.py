"""What needs a human now: the admin's home page, and the dashboard's first lists.

Each item is one line with its action: failed orders (their failing step and the cause in
words), late orders, payments refused (linked to the order they were for), orders
abandoned at checkout, and plain tasks that died. Reads only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gateway.models import EventSource, EventStatus, WebhookEvent
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
    event: WebhookEvent
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


def payment_reason(outcome: str) -> str:
    """A refused payment's outcome ('wrong_amount: paid 100 'eur', ...') in words."""
    code, _, rest = outcome.partition(":")
    words = {
        "wrong_amount": "Paid the wrong amount",
        "unknown_project": "Names no order we know",
        "session_reused": "Reuses a checkout session that paid another order",
    }
    lead = words.get(code.strip())
    return f"{lead} ({rest.strip()})" if lead else outcome


def project_of_event(event: WebhookEvent) -> Project | None:
    """The order a Stripe event was for (its client_reference_id), if it names one we have."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    session = data.get("object") if isinstance(data.get("object"), dict) else {}
    try:
        project_id = uuid.UUID(str(session.get("client_reference_id")))
    except ValueError:
        return None
    return Project.objects.filter(id=project_id).first()


def refused_payments(limit: int = LIMIT, *, project: Project | None = None) -> list[RefusedPayment]:
    events = WebhookEvent.objects.filter(source=EventSource.STRIPE, status=EventStatus.REJECTED)
    if project is not None:
        # The payload is JSON on both databases; the reference id sits at a fixed path.
        events = events.filter(payload__data__object__client_reference_id=str(project.id))
    return [
        RefusedPayment(e, project or project_of_event(e), payment_reason(e.outcome))
        for e in events.order_by("-received_at")[:limit]
    ]


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
