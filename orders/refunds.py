"""Refunds: asked by staff (admin action), by a cancel before delivery, or made in Stripe's dashboard.

One full refund per order made by the product; a partial one made in Stripe's dashboard is recorded
(`Project.refunded_cents`) without closing the order, and staff are told. `refund_request` records the
refund (with who asked) before calling Stripe's Refund API, and every call carries the refund's one
idempotency key: a request that timed out is retried as the same refund, never a second one. The
project becomes refunded only when Stripe says the money went back (`charge.refunded`), whoever
started it; the customer gets one email.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.mail import mail_admins
from django.db import transaction

from orchestration import clock
from orchestration.models import RunStatus
from orchestration.services import Actor, run_cancel
from orders import notices
from orders.checkout import stripe_client
from orders.exceptions import PaymentRejected, RefundNotConfirmed, RefundRefused
from orders.mail import format_money
from orders.models import Project, ProjectStatus, Refund, RefundStatus

logger = logging.getLogger("orders")

# Stripe's refund statuses, as ours.
_STATUS_OF_STRIPE = {
    "succeeded": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


def refund_request(*, project: Project, source: str, user: Any = None, label: str = "", reason: str = "") -> Refund:
    """Record the order's refund (once) and ask Stripe for it; safe to call again after any failure.

    Raises RefundRefused (never paid, or Stripe refused for good) or RefundNotConfirmed (Stripe
    did not answer: call again, the same key makes it the same refund).
    """
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(id=project.id)
        if locked.paid_at is None or locked.amount_cents is None:
            raise RefundRefused("not_paid", f"Order {locked.reference} was never paid: there is nothing to refund.")
        refund, _created = Refund.objects.get_or_create(
            project=locked,
            defaults={
                "source": source,
                "idempotency_key": f"refund:{locked.id}",
                # Stripe refunds what is left of the charge: after a partial refund, the remainder.
                "amount_cents": max(0, locked.amount_cents - locked.refunded_cents),
                "currency": locked.currency,
                "requested_by": user if getattr(user, "pk", None) else None,
                "requested_by_label": label[:150],
                "reason": reason[:500],
            },
        )
        if refund.status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED):
            return refund  # asked and accepted before: nothing twice
        if locked.status == ProjectStatus.REFUNDED:
            return refund
        refund.tries += 1
        refund.save(update_fields=["tries"])
    # Outside the transaction: no row lock is held across a network call.
    import stripe  # here, not at the top: a worker or a cold function that takes no payment never loads it

    try:
        payment_intent = locked.payment_intent_id or _payment_intent_of(locked)
        result = (
            stripe_client()
            .v1.refunds.create(
                params={
                    "payment_intent": payment_intent,
                    "reason": "requested_by_customer",
                    "metadata": {"project_id": str(locked.id), "order_reference": locked.reference},
                },
                options={"idempotency_key": refund.idempotency_key},
            )
            .to_dict()
        )
    except stripe.APIConnectionError as exc:  # a timeout or a dropped connection: the outcome is unknown
        Refund.objects.filter(id=refund.id).update(last_error=f"Stripe did not answer: {exc}"[:2000])
        raise RefundNotConfirmed(
            "stripe_no_answer", f"Stripe did not answer the refund of {locked.reference}; retry (same refund)."
        ) from exc
    except stripe.RateLimitError as exc:
        Refund.objects.filter(id=refund.id).update(last_error=f"Stripe is rate limiting: {exc}"[:2000])
        raise RefundNotConfirmed("stripe_busy", f"Stripe asked us to slow down: {exc}") from exc
    except stripe.StripeError as exc:  # refused: already refunded, disputed, bad key...
        Refund.objects.filter(id=refund.id).update(status=RefundStatus.FAILED, last_error=str(exc)[:2000])
        raise RefundRefused("stripe_refused", f"Stripe refused the refund of {locked.reference}: {exc}") from exc
    status = _STATUS_OF_STRIPE.get(str(result.get("status")), RefundStatus.PENDING)
    Refund.objects.filter(id=refund.id).update(
        stripe_refund_id=str(result.get("id") or ""), status=status, last_error=""
    )
    refund.refresh_from_db()
    logger.info(
        "refund requested",
        extra={"action": "refund_request", "project_id": str(locked.id), "refund": refund.stripe_refund_id},
    )
    return refund


def _payment_intent_of(project: Project) -> str:
    """An order paid before we kept the payment intent: ask Stripe for its session's."""
    if not project.checkout_session_id:
        raise RefundRefused("no_payment", f"Order {project.reference} has no Checkout Session to refund.")
    session = stripe_client().v1.checkout.sessions.retrieve(project.checkout_session_id).to_dict()
    payment_intent = session.get("payment_intent")
    if not payment_intent:
        raise RefundRefused("no_payment", f"Checkout Session {project.checkout_session_id} has no payment.")
    Project.objects.filter(id=project.id).update(payment_intent_id=str(payment_intent))
    return str(payment_intent)


def charge_refunded(charge: dict[str, Any], event_type: str = "charge.refunded") -> str:
    """Stripe says a charge was refunded: in full, the order is refunded, whoever started it; in part
    (`refunded` false), the amount is recorded on the order, which is not refunded, and staff are told.

    A running workflow is cancelled first (no site for a refunded order). Returns what it did;
    raises PaymentRejected for a charge of no order of ours.
    """
    payment_intent = str(charge.get("payment_intent") or "")
    metadata = charge.get("metadata") if isinstance(charge.get("metadata"), dict) else {}
    if not charge.get("refunded"):
        return _charge_partly_refunded(charge, payment_intent, metadata)
    with transaction.atomic():
        project = _project_of_charge(payment_intent, metadata)
        if project.status == ProjectStatus.REFUNDED:
            return f"Project {project.id} is already refunded."
        now = clock.now()
        project.status = ProjectStatus.REFUNDED
        project.refunded_at = now
        project.refunded_cents = max(project.refunded_cents, _cents(charge.get("amount_refunded")))
        project.save(update_fields=["status", "refunded_at", "refunded_cents", "updated_at"])
        # After the status: a closed order ignores its run's end (no "cancelled", no refund on cancel).
        for run in project.runs.filter(status=RunStatus.RUNNING):
            run_cancel(run=run, actor=Actor(label="stripe:charge.refunded"), reason="refunded in Stripe")
        refund, _ = Refund.objects.get_or_create(
            project=project,
            defaults={
                "source": Refund.Source.STRIPE,
                "idempotency_key": f"refund:{project.id}",
                "amount_cents": int(charge.get("amount_refunded") or project.amount_cents or 0),
                "currency": str(charge.get("currency") or project.currency),
                "requested_by_label": "Stripe dashboard",
            },
        )
        refunds = charge.get("refunds") if isinstance(charge.get("refunds"), dict) else {}
        first = (refunds.get("data") or [{}])[0] if isinstance(refunds.get("data"), list) else {}
        refund.status = RefundStatus.SUCCEEDED
        refund.confirmed_at = now
        refund.stripe_refund_id = refund.stripe_refund_id or str(first.get("id") or "")
        refund.save(update_fields=["status", "confirmed_at", "stripe_refund_id"])
        project_id = project.id
        transaction.on_commit(lambda: notices.notify_refunded(project_id=project_id))
    logger.info("order refunded", extra={"action": "charge_refunded", "project_id": str(project_id)})
    return f"Project {project_id} refunded ({event_type})."


def _project_of_charge(payment_intent: str, metadata: dict[str, Any]) -> Project:
    """The order a charge paid, locked (inside the caller's transaction); PaymentRejected if none."""
    query = Project.objects.select_for_update()
    project = query.filter(payment_intent_id=payment_intent).first() if payment_intent else None
    if project is None and metadata.get("project_id"):
        project = query.filter(id=_uuid_or_none(metadata["project_id"])).first()
    if project is None:
        raise PaymentRejected("unknown_payment", f"No order was paid with payment intent {payment_intent!r}")
    return project


def _charge_partly_refunded(charge: dict[str, Any], payment_intent: str, metadata: dict[str, Any]) -> str:
    """A partial refund (made in Stripe's dashboard: the product only refunds in full).

    Recorded on the order as the amount refunded so far (Stripe's `amount_refunded` is cumulative, so
    events applied twice or out of order never lower it); the order keeps its status and a later full
    refund can still be made. Staff are emailed each time the refunded amount grows: they decide what
    the customer is owed and tell them.
    """
    amount = _cents(charge.get("amount_refunded"))
    with transaction.atomic():
        project = _project_of_charge(payment_intent, metadata)
        grew = Project.objects.filter(id=project.id, refunded_cents__lt=amount).update(refunded_cents=amount)
        if not grew:
            return f"Charge {charge.get('id')} is partly refunded ({amount}); already recorded on {project.reference}."
        currency = str(charge.get("currency") or project.currency or "eur")
        refunded = format_money(amount, currency, "en")
        paid = format_money(project.amount_cents or 0, project.currency or currency, "en")
        subject = f"Partial refund of {project.reference} ({project.business_name}): {refunded} of {paid}"
        body = (
            f"Stripe reports that {refunded} of the {paid} paid for order {project.reference} "
            f"({project.business_name}, {project.contact_email}) has been refunded (charge {charge.get('id')}).\n\n"
            f"The order is not marked refunded and its work goes on (status: {project.status}). "
            "The customer has not been emailed by us: tell them what this refund is for.\n"
        )
        transaction.on_commit(lambda: mail_admins(subject, body, fail_silently=True))
    logger.info("order partly refunded", extra={"action": "charge_partly_refunded", "project_id": str(project.id)})
    return f"Project {project.id} partly refunded: {amount} of {project.amount_cents} recorded; status unchanged."


def _cents(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
