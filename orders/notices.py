"""Customer emails sent outside a workflow step (a failed order or revision, a refund): each one at most once.

A workflow step's emails go through the side-effect ledger of its task; these come from a run's
end or a Stripe event, which have no task, so they have their own ledger (`CustomerEmail`): the
process that records the key first sends, any other finds it and sends nothing. A send that
raises removes the record, so a later delivery of the same event tries again.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from orchestration import clock
from orders.mail import format_money, order_context, send_email
from orders.models import CustomerEmail, Project, Revision
from orders.selectors import status_url

logger = logging.getLogger("orders")


def customer_email_once(*, project: Project, kind: str, key: str, context: dict[str, Any] | None = None) -> bool:
    """Send `kind` to the customer unless `key` was sent (or is being sent); True if this call sent it."""
    try:
        with transaction.atomic():
            CustomerEmail.objects.create(key=key, project=project, kind=kind)
    except IntegrityError:
        return False
    full = {**order_context(project), "status_url": status_url(project), **(context or {})}
    try:
        send_email(kind, to=project.contact_email, language=project.language, context=full)
    except Exception:
        CustomerEmail.objects.filter(key=key, sent_at__isnull=True).delete()
        raise
    CustomerEmail.objects.filter(key=key).update(sent_at=clock.now())
    logger.info("customer emailed", extra={"action": "customer_email", "project_id": str(project.id), "kind": kind})
    return True


def notify_order_failed(*, project_id: Any) -> bool:
    """The order failed for good: tell the customer our team knows and will write (once per order)."""
    project = Project.objects.filter(id=project_id).first()
    if project is None:
        return False
    return customer_email_once(project=project, kind="order_failed", key=f"order_failed:{project.id}")


def notify_revision_failed(*, revision_id: Any) -> bool:
    """A revision run failed for good: tell the customer their site is unchanged and our team will write
    (once per revision; a replay that fails again sends nothing more)."""
    revision = Revision.objects.select_related("project").filter(id=revision_id).first()
    if revision is None:
        return False
    project = revision.project
    return customer_email_once(
        project=project,
        kind="revision_failed",
        key=f"revision_failed:{revision.id}",
        context={"revision_number": str(revision.number), "site_url": project.site_url},
    )


def notify_refunded(*, project_id: Any) -> bool:
    """Stripe confirmed the refund: one email saying how much and when it arrives."""
    project = Project.objects.filter(id=project_id).first()
    if project is None:
        return False
    refund = getattr(project, "refund", None)
    cents = refund.amount_cents if refund is not None else project.amount_cents or 0
    currency = refund.currency if refund is not None else project.currency
    amount = format_money(cents, currency or "eur", project.language)
    return customer_email_once(
        project=project, kind="refunded", key=f"refunded:{project.id}", context={"refund_amount": amount}
    )
