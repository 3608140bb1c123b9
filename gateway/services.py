"""Writes of the HTTP surface: receiving webhook events into the inbox and applying them.

Each receive is one transaction: the inbox row (unique per source and external
id: the deduplication) and everything the event changes commit together, or
nothing does. An event that fails unexpectedly leaves no row, so the sender's
retry applies it again. Work the event made ready is kicked after the commit.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import mail_admins
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.exceptions import MalformedBody, UnknownObject
from gateway.models import REPROCESSABLE_STATUSES, EventSource, EventStatus, SignedRequest, WebhookEvent
from orchestration import clock, dispatch
from orchestration.dispatch import Report
from orchestration.exceptions import IllegalTransition
from orchestration.models import OperatorAction, Task
from orchestration.services import Actor
from orders.checkout import checkout_session_closed
from orders.exceptions import PaymentRejected
from orders.refunds import charge_refunded
from orders.services import project_mark_paid

logger = logging.getLogger("gateway")

PAID_EVENT_TYPES = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
# The customer's journey beyond payment: each handler returns what it did, or raises PaymentRejected.
ORDER_EVENT_HANDLERS = {
    "checkout.session.expired": checkout_session_closed,
    "checkout.session.async_payment_failed": checkout_session_closed,
    "charge.refunded": charge_refunded,
}


def _inbox_row(*, source: str, external_id: str, type: str, payload: Any) -> tuple[WebhookEvent, bool]:
    """The event's row, locked; created unless it exists. (row, created)."""
    try:
        with transaction.atomic():
            row = WebhookEvent.objects.create(
                source=source,
                external_id=external_id,
                type=type[:100],
                payload=payload,
                signature_ok=True,
                received_at=clock.now(),
            )
            return row, True
    except IntegrityError:
        # Delivered before, or being delivered right now by a concurrent request: on Postgres
        # the insert waited for that transaction, so the row we read here is committed.
        return WebhookEvent.objects.select_for_update().get(source=source, external_id=external_id), False


def _finish(row: WebhookEvent, status: str, outcome: str) -> WebhookEvent:
    row.status = status
    row.outcome = outcome[:5000]
    row.processed_at = clock.now()
    row.attempts += 1
    row.save(update_fields=["status", "outcome", "processed_at", "attempts"])
    logger.info(
        "webhook event applied",
        extra={
            "action": "webhook_event",
            "source": row.source,
            "event_id": row.external_id,
            "type": row.type,
            "status": status,
        },
    )
    return row


# --- Stripe ----------------------------------------------------------------------------------


def stripe_event_receive(*, event: dict[str, Any]) -> tuple[WebhookEvent, bool]:
    """Record a verified Stripe event and fulfil it if it pays an order. (row, duplicate)."""
    with transaction.atomic():
        row, created = _inbox_row(source=EventSource.STRIPE, external_id=event["id"], type=event["type"], payload=event)
        if not created and row.status != EventStatus.FAILED:
            return row, True
        _apply_stripe(row)
    return row, False


def _apply_stripe(row: WebhookEvent) -> WebhookEvent:
    event = row.payload if isinstance(row.payload, dict) else {}
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    session = data.get("object") if isinstance(data.get("object"), dict) else {}
    if row.type in ORDER_EVENT_HANDLERS:
        try:
            with transaction.atomic():
                return _finish(row, EventStatus.PROCESSED, ORDER_EVENT_HANDLERS[row.type](session, row.type))
        except PaymentRejected as exc:
            return _finish(row, EventStatus.REJECTED, f"{exc.code}: {exc.message}")
    if row.type not in PAID_EVENT_TYPES:
        return _finish(row, EventStatus.IGNORED, f"Event type {row.type} is not handled.")
    if session.get("payment_status") != "paid":
        return _finish(
            row,
            EventStatus.IGNORED,
            f"Payment not completed (payment_status={session.get('payment_status')!r}); "
            "checkout.session.async_payment_succeeded will fulfil it.",
        )
    project_id = _uuid_or_none(session.get("client_reference_id"))
    if project_id is None:
        return _refused_payment(row, f"unknown_project: client_reference_id {session.get('client_reference_id')!r}")
    amount, currency = session.get("amount_total"), str(session.get("currency") or "").lower()
    price, price_currency = _quoted_price(session)
    if amount != price or currency != price_currency:
        return _refused_payment(
            row, f"wrong_amount: paid {amount!r} {currency!r}, the price is {price} {price_currency!r}"
        )
    session_id = str(session.get("id") or row.external_id)[:255]
    try:
        with transaction.atomic():
            project, run, started = project_mark_paid(
                project_id=project_id,
                checkout_session_id=session_id,
                amount_cents=amount,
                currency=currency,
                payment_intent_id=str(session.get("payment_intent") or "")[:255],
            )
    except PaymentRejected as exc:
        return _refused_payment(row, f"{exc.code}: {exc.message}")
    except IntegrityError:
        return _refused_payment(row, f"session_reused: checkout session {session_id} paid another order")
    if not started:
        return _finish(row, EventStatus.PROCESSED, f"Already fulfilled: project {project.id} has run {run.id}.")
    dispatch.kick_on_commit(run.id)
    return _finish(row, EventStatus.PROCESSED, f"Project {project.id} paid; workflow run {run.id} started.")


def _quoted_price(session: dict[str, Any]) -> tuple[int, str]:
    """The price the session was created for (its metadata, ours, signed back by Stripe), else today's."""
    metadata = session.get("metadata") if isinstance(session.get("metadata"), dict) else {}
    cents, currency = str(metadata.get("price_cents") or ""), str(metadata.get("currency") or "").lower()
    if cents.isdigit() and currency:
        return int(cents), currency
    return settings.ORDER_PRICE_CENTS, settings.ORDER_CURRENCY


def _refused_payment(row: WebhookEvent, outcome: str) -> WebhookEvent:
    """A verified, paid Checkout Session we do not fulfil: Stripe has the customer's money, so staff hear of it
    at once (also listed on the admin's home page) to fulfil the order or refund it by hand."""
    event = row.payload if isinstance(row.payload, dict) else {}
    session = (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else {}
    session = session if isinstance(session, dict) else {}
    details = session.get("customer_details") if isinstance(session.get("customer_details"), dict) else {}
    customer = details.get("email") or session.get("customer_email")
    subject = f"Payment refused: Stripe took {session.get('amount_total')!r} {session.get('currency')!r} for no order"
    body = (
        f"Stripe event {row.external_id} ({row.type}) paid Checkout Session {session.get('id')!r} "
        f"(client_reference_id {session.get('client_reference_id')!r}, customer {customer!r}), "
        f"and no order was started:\n\n{outcome}\n\nThe customer was charged: fulfil the order or refund the payment "
        "in Stripe. The event is in the admin's webhook inbox.\n"
    )
    transaction.on_commit(lambda: mail_admins(subject[:200], body, fail_silently=True))
    return _finish(row, EventStatus.REJECTED, outcome)


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- Agent callbacks ---------------------------------------------------------------------------


def agent_report_receive(*, webhook_id: str, body: dict[str, Any]) -> tuple[WebhookEvent, bool]:
    """Apply a verified, validated agent report through the engine. (row, duplicate).

    The task must exist and belong to the reporting agent (and project, when named)
    before anything is written: a report about nothing leaves no row.
    """
    report = Report.from_body(body)
    _check_report_target(report)
    with transaction.atomic():
        row, created = _inbox_row(source=EventSource.AGENT, external_id=webhook_id, type=report.type, payload=body)
        if not created and row.status != EventStatus.FAILED:
            return row, True
        _apply_agent(row)
    return row, False


def _check_report_target(report: Report) -> None:
    task = Task.objects.filter(id=report.task_id).values("action", "run_id", "run__project", "input").first()
    if task is None:
        raise UnknownObject(f"No task {report.task_id}.", code="unknown_task")
    if dispatch.agent_of(task["action"]) != report.agent_id:
        raise MalformedBody(
            f"Task {report.task_id} runs {task['action']}, not an action of agent {report.agent_id!r}.",
            code="wrong_agent",
        )
    if report.project_id is not None and str(_project_of_task(task)) != report.project_id:
        raise UnknownObject(
            f"Task {report.task_id} is not a task of project {report.project_id}.", code="wrong_project"
        )


def _project_of_task(task: dict[str, Any]) -> Any:
    """The project a task works for: its run's, or, for a task of no workflow (a refund), the one
    its input names, which is what the engine's dispatch sends the agent as projectId."""
    if task["run_id"] is not None:
        return task["run__project"]  # None when the run is for something other than an order
    return task["input"].get("project_id") if isinstance(task["input"], dict) else None


def _apply_agent(row: WebhookEvent) -> WebhookEvent:
    report = Report.from_body(row.payload)
    if not dispatch.apply_report(report):
        return _finish(
            row, EventStatus.IGNORED, f"Stale: attempt {report.attempt} no longer holds task {report.task_id}."
        )
    if report.type in ("task_completed", "task_failed"):
        run_id = Task.objects.filter(id=report.task_id).values_list("run_id", flat=True).first()
        dispatch.kick_on_commit(run_id)  # start what the report made ready now, not at the next tick
    return _finish(row, EventStatus.PROCESSED, f"{report.type} applied to task {report.task_id}.")


# --- The engine's own signed routes -------------------------------------------------------------

# Longer than a signature stays valid (5 minutes either side of its timestamp), so no replay
# outlives its row: past that, the timestamp check refuses it.
SIGNED_REQUEST_MEMORY = timedelta(minutes=15)


def signed_request_accept(*, route: str, webhook_id: str) -> bool:
    """True the first time `webhook_id` is seen on `route`, False for a replay (one transaction).

    Recorded before the work runs, and committed at once: the work (an agent's action, a tick)
    is many transactions of its own, and a replay must not run it even while the first runs.
    Real time, like the signature's timestamp check (not the engine's injectable clock).
    """
    now = timezone.now()
    with transaction.atomic():
        SignedRequest.objects.filter(received_at__lt=now - SIGNED_REQUEST_MEMORY).delete()
        try:
            with transaction.atomic():
                SignedRequest.objects.create(route=route[:200], webhook_id=webhook_id, received_at=now)
        except IntegrityError:
            logger.warning("signed request replayed", extra={"action": "signed_request_replay", "route": route[:200]})
            return False
    return True


# --- Staff ----------------------------------------------------------------------------------------


def webhook_reprocess(*, event: WebhookEvent, actor: Actor) -> WebhookEvent:
    """Apply a stored event again (after the cause of its refusal was fixed); recorded as an act."""
    with transaction.atomic():
        row = WebhookEvent.objects.select_for_update().get(id=event.id)
        if row.status not in REPROCESSABLE_STATUSES:
            allowed = ", ".join(str(s) for s in REPROCESSABLE_STATUSES)
            raise IllegalTransition(
                f"Event {row.id} ({row.source} {row.external_id}) is {row.status}; only {allowed} events can be "
                "reprocessed"
            )
        before = row.status
        try:
            with transaction.atomic():
                _apply_stripe(row) if row.source == EventSource.STRIPE else _apply_agent(row)
        except Exception as exc:  # noqa: BLE001 - stored as data for staff, not retried blindly
            row.refresh_from_db()
            _finish(row, EventStatus.FAILED, f"{type(exc).__name__}: {exc}")
        OperatorAction.objects.create(
            actor=actor.user if getattr(actor.user, "pk", None) else None,
            actor_label=actor.label,
            verb=OperatorAction.Verb.REPROCESS_EVENT,
            detail={
                "event": row.id,
                "source": row.source,
                "external_id": row.external_id,
                "from": before,
                "to": row.status,
            },
        )
    logger.info(
        "webhook event reprocessed", extra={"action": "webhook_reprocess", "event": row.id, "actor": actor.label}
    )
    return row
