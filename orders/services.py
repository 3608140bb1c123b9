"""Writes on orders: intake, payment fulfilment, and the project's side of its workflow."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from orchestration import clock
from orchestration.models import RunStatus, WorkflowRun
from orchestration.retry import RetryPolicy
from orchestration.services import enqueue, run_start
from orders import notices
from orders.brief import InvalidBrief
from orders.business_details import DETAIL_KEYS, stored_details
from orders.exceptions import PaymentRejected
from orders.media import PreparedImage, prepare_uploads, store_image
from orders.models import DEFAULT_PAGES, Project, ProjectStatus
from orders.selectors import project_id_of_run

logger = logging.getLogger("orders")

# Runs are stored under their workflow's name: the order's runs are found by it, and it is started
# by it through the engine's registry (agents defines and registers the workflow in its AppConfig).
ORDER_WORKFLOW_NAME = "order"
REFUND_ACTION = "core-platform.refund"  # agents/actions/journey.py: runs orders.refunds.refund_request


def project_create(
    *,
    business_name: str,
    contact_email: str,
    sector: str = "",
    city: str = "",
    description: str = "",
    pages: list[str] | None = None,
    brand_color: str = "#2563eb",
    language: str = "fr",
    owner: AbstractBaseUser | None = None,
    photos: list[PreparedImage | Mapping[str, Any]] | None = None,
    logo: PreparedImage | Mapping[str, Any] | None = None,
    submission_key: str | None = None,
    **details: Any,
) -> Project:
    """Record a validated brief as a project awaiting payment, owned by the API user who sent it
    (None: made by staff tooling, the demo or the load test; then only staff see it over the API).

    `details` are the brief's optional business details (phone, street_address, postcode, opening_hours, legal,
    social_links); `photos` and `logo` are uploads, prepared (orders.media) or raw, stored before the project.
    """
    unknown = sorted(set(details) - set(DETAIL_KEYS))
    if unknown:
        raise TypeError(f"project_create() got unexpected brief fields: {', '.join(unknown)}")
    images = {"photos": photos or [], "logo": logo}
    raw = [p for p in images["photos"] if not isinstance(p, PreparedImage)]
    if raw or (logo and not isinstance(logo, PreparedImage)):
        prepared, prepared_logo, errors = prepare_uploads(images)
        if errors:
            raise InvalidBrief(errors)
        images = {"photos": prepared, "logo": prepared_logo}
    details["photos"] = [store_image(p) for p in images["photos"]]
    details["logo"] = store_image(images["logo"]) if images["logo"] else None
    project = Project.objects.create(
        owner=owner if owner is not None and owner.is_authenticated else None,
        details=stored_details(details),
        business_name=business_name,
        contact_email=contact_email,
        sector=sector,
        city=city,
        description=description,
        pages=list(pages) if pages else list(DEFAULT_PAGES),
        brand_color=brand_color.lower(),
        language=language,
        submission_key=submission_key or None,
    )
    logger.info("project created", extra={"action": "project_create", "project_id": str(project.id)})
    return project


def project_mark_paid(
    *, project_id: Any, checkout_session_id: str, amount_cents: int, currency: str, payment_intent_id: str = ""
) -> tuple[Project, WorkflowRun, bool]:
    """Mark the project paid and start its one workflow run; idempotent per project.

    Returns (project, run, started): `started` is False when this payment was
    already fulfilled (Stripe delivers events more than once, and both
    `completed` and `async_payment_succeeded` can arrive for one payment).
    """
    with transaction.atomic():
        project = Project.objects.select_for_update().filter(id=project_id).first()
        if project is None:
            raise PaymentRejected("unknown_project", f"No project {project_id}")
        existing = project.runs.filter(workflow=ORDER_WORKFLOW_NAME).order_by("created_at").first()
        if existing is not None:
            return project, existing, False
        if project.status != ProjectStatus.AWAITING_PAYMENT:
            raise PaymentRejected("not_awaiting_payment", f"Project {project.id} is {project.status}")
        project.status = ProjectStatus.PAID
        project.paid_at = clock.now()
        project.checkout_session_id = checkout_session_id
        project.amount_cents = amount_cents
        project.currency = currency
        project.payment_intent_id = payment_intent_id or ""
        project.save(
            update_fields=[
                "status",
                "paid_at",
                "checkout_session_id",
                "amount_cents",
                "currency",
                "payment_intent_id",
                "updated_at",
            ]
        )
        run = run_start(
            workflow=ORDER_WORKFLOW_NAME,
            project=project,
            input={"project_id": str(project.id)},
            idempotency_key=f"order:{project.id}",
        )
    logger.info(
        "order paid; workflow started",
        extra={"action": "project_mark_paid", "project_id": str(project.id), "run_id": str(run.id)},
    )
    return project, run, True


_PROJECT_STATUS_OF_RUN = {
    RunStatus.RUNNING: ProjectStatus.IN_PROGRESS,
    RunStatus.SUCCEEDED: ProjectStatus.DELIVERED,
    RunStatus.FAILED: ProjectStatus.FAILED,
    RunStatus.CANCELLED: ProjectStatus.CANCELLED,
}


# A refunded or abandoned order is closed for good: a replay or a late run event never reopens it.
CLOSED_STATUSES = (ProjectStatus.REFUNDED, ProjectStatus.ABANDONED)


def project_on_run_status(run: WorkflowRun) -> None:
    """The order workflow's hook: the project follows its run (called inside the run's transaction).

    A run that failed for good tells the customer (once, after the commit); a paid order that
    staff cancel before delivery is refunded (ORDER_REFUND_ON_CANCEL), through a queued task.
    """
    project_id = project_id_of_run(run)
    if project_id is None:
        return
    if Project.objects.filter(id=project_id, status__in=CLOSED_STATUSES).exists():
        return
    status = _PROJECT_STATUS_OF_RUN[RunStatus(run.status)]
    updates: dict[str, Any] = {"status": status}
    if status == ProjectStatus.DELIVERED:
        updates["delivered_at"] = run.finished_at
    elif status == ProjectStatus.IN_PROGRESS:
        updates["delivered_at"] = None
    Project.objects.filter(id=project_id).update(**updates)
    if status == ProjectStatus.FAILED:
        transaction.on_commit(lambda: notices.notify_order_failed(project_id=project_id))
    elif status == ProjectStatus.CANCELLED and settings.ORDER_REFUND_ON_CANCEL:
        project = Project.objects.get(id=project_id)
        if project.paid_at is not None and project.delivered_at is None:
            refund_on_cancel_enqueue(project=project, run=run)


def refund_on_cancel_enqueue(*, project: Project, run: WorkflowRun) -> None:
    """Queue the refund of a paid order cancelled before delivery (once per project)."""
    enqueue(
        REFUND_ACTION,
        {"project_id": str(project.id), "run_id": str(run.id)},
        idempotency_key=f"refund-on-cancel:{project.id}",
        # Stripe may be slow or down for a while; the idempotency key makes every try the same refund.
        retry=RetryPolicy(max_attempts=8, base_seconds=5, cap_seconds=600),
        timeout_seconds=60,
    )
