"""The order page's payment: a Stripe Checkout Session per submitted form, and closing orders never paid.

Every call to Stripe goes through the official library (`stripe_client()`), pointed at
`STRIPE_API_BASE` (a local fake in tests) and sent with an idempotency key of the project that
the submitted form made: a double submit, or a retry after a timeout, gets the same session back
from Stripe instead of a second one.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from orchestration import clock
from orders.exceptions import CheckoutUnavailable, PaymentRejected

if TYPE_CHECKING:
    import stripe
from orders.models import Project, ProjectStatus
from orders.selectors import status_url
from orders.services import project_create

logger = logging.getLogger("orders")

CHECKOUT_LOCALES = {"fr": "fr", "en": "en"}
PRODUCT_NAMES = {
    "fr": "Site web clés en main et campagne Google Ads : {name}",
    "en": "Turnkey website and Google Ads campaign: {name}",
}


def stripe_client() -> stripe.StripeClient:
    import stripe  # here, not at the top: a worker or a cold function that takes no payment never loads it

    """The official client, on STRIPE_API_BASE, with our timeout. Its own retries are off: the
    callers decide (the order form asks the customer to resubmit, a refund task retries with backoff)."""
    if not settings.STRIPE_API_KEY:
        raise CheckoutUnavailable("stripe_not_configured", "STRIPE_API_KEY is not set: payments are switched off.")
    return stripe.StripeClient(
        settings.STRIPE_API_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
        max_network_retries=0,
    )


def payments_enabled() -> bool:
    """Stripe (STRIPE_API_KEY set) or the local demo's stand-in for Checkout (ORDER_DEMO_CHECKOUT)."""
    return bool(settings.STRIPE_API_KEY) or demo_checkout_enabled()


def demo_checkout_enabled() -> bool:
    """`make run` without a Stripe key: orders are "paid" on a local page that says it is a demo."""
    return bool(settings.ORDER_DEMO_CHECKOUT) and not settings.STRIPE_API_KEY


def resume_url(project: Project, language: str) -> str:
    """Back to the order form with this order's brief filled in (Checkout's cancel link)."""
    return f"{settings.SITE_URL}{reverse('order-page')}?lang={language}&resume={project.status_token}"


def order_submit(*, brief: dict[str, Any], submission_key: str, language: str) -> Project:
    """The project for one submitted order form, with its Checkout Session; idempotent per form.

    The submission key (the form's token and a digest of its content, OrderForm.submission_key_for) is
    unique on the project, so a double submit finds the first project; the session is created with an
    idempotency key of that project, so the second request (even one racing the first) gets Stripe's
    first answer back. A found project already paid is returned as it is (the view sends its status page).

    With payments switched off (no STRIPE_API_KEY, no demo checkout) nothing is created: CheckoutUnavailable.
    """
    if not payments_enabled():
        raise CheckoutUnavailable("stripe_not_configured", "STRIPE_API_KEY is not set: payments are switched off.")
    project = _project_for_submission(brief, submission_key)
    if project.checkout_url or project.status != ProjectStatus.AWAITING_PAYMENT:
        return project
    if demo_checkout_enabled():
        session = demo_session(project=project, language=language)
    else:
        session = checkout_session_create(project=project, language=language)
    Project.objects.filter(id=project.id, checkout_url="").update(
        checkout_session_id=session["id"], checkout_url=session["url"]
    )
    project.refresh_from_db()
    logger.info(
        "checkout session created",
        extra={"action": "checkout_session_create", "project_id": str(project.id), "session_id": session["id"]},
    )
    return project


def _project_for_submission(brief: dict[str, Any], submission_key: str) -> Project:
    """The project of this submission: created, or found (a double submit). A submission whose order was
    abandoned (its session expired) starts a new one: the old one gives its key up, in one conditional update."""
    for _ in range(2):
        try:
            with transaction.atomic():
                return project_create(**brief, submission_key=submission_key)
        except IntegrityError:
            project = Project.objects.get(submission_key=submission_key)
        if project.status != ProjectStatus.ABANDONED:
            return project
        Project.objects.filter(id=project.id, status=ProjectStatus.ABANDONED).update(submission_key=None)
    return Project.objects.get(submission_key=submission_key)


def checkout_session_create(*, project: Project, language: str) -> dict[str, str]:
    """{"id", "url"} of the project's Checkout Session (price and currency from settings)."""
    locale = CHECKOUT_LOCALES.get(language, "auto")
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": settings.ORDER_CURRENCY,
                    "unit_amount": settings.ORDER_PRICE_CENTS,
                    "product_data": {
                        "name": PRODUCT_NAMES.get(language, PRODUCT_NAMES["en"]).format(name=project.business_name)[
                            :250
                        ]
                    },
                },
            }
        ],
        "client_reference_id": str(project.id),
        "customer_email": project.contact_email,
        "locale": locale,
        "success_url": status_url(project),
        "cancel_url": resume_url(project, language),
        # The price this session asks for, signed back in its events: a payment of it is right even if
        # ORDER_PRICE_CENTS changed while the customer was on Checkout (gateway/services.py).
        "metadata": {
            "project_id": str(project.id),
            "order_reference": project.reference,
            "price_cents": str(settings.ORDER_PRICE_CENTS),
            "currency": settings.ORDER_CURRENCY,
        },
        # On the payment too: charge.refunded carries the payment intent's id, and this says whose it is.
        "payment_intent_data": {"metadata": {"project_id": str(project.id), "order_reference": project.reference}},
    }
    # One session per project: a double submit finds the project, so it asks with the same key.
    key = f"checkout:{project.id}"
    import stripe

    try:
        session = stripe_client().v1.checkout.sessions.create(params=params, options={"idempotency_key": key}).to_dict()
    except stripe.StripeError as exc:
        logger.warning(
            "checkout session refused",
            extra={"action": "checkout_session_create", "project_id": str(project.id), "error": type(exc).__name__},
        )
        raise CheckoutUnavailable("stripe_unavailable", f"Stripe did not create the session: {exc}") from exc
    if not session.get("id") or not session.get("url"):
        raise CheckoutUnavailable("stripe_unavailable", "Stripe answered without a session id or URL.")
    return {"id": str(session["id"]), "url": str(session["url"])}


def demo_session(*, project: Project, language: str) -> dict[str, str]:
    """The demo's stand-in for a Checkout Session: a local page (orders.views.demo_checkout)."""
    path = reverse("demo-checkout", args=[project.status_token])
    return {"id": f"cs_demo_{project.id.hex}", "url": f"{settings.SITE_URL}{path}?lang={language}"}


def checkout_session_closed(session: dict[str, Any], event_type: str) -> str:
    """checkout.session.expired / async_payment_failed: an order never paid is closed as abandoned.

    Returns what it did (for the inbox row); raises PaymentRejected when the event names no order.
    Only an order still awaiting payment is closed: a paid order is never touched by a late event.
    """
    try:
        project_id = uuid.UUID(str(session.get("client_reference_id")))
    except ValueError:
        raise PaymentRejected(
            "unknown_project", f"client_reference_id {session.get('client_reference_id')!r}"
        ) from None
    with transaction.atomic():
        project = Project.objects.select_for_update().filter(id=project_id).first()
        if project is None:
            raise PaymentRejected("unknown_project", f"No project {project_id}")
        session_id = str(session.get("id") or "")
        if project.checkout_session_id and session_id and session_id != project.checkout_session_id:
            return f"Session {session_id} is not project {project.id}'s current session; nothing changed."
        if project.status != ProjectStatus.AWAITING_PAYMENT:
            return f"Project {project.id} is {project.status}; {event_type} changes nothing."
        project.status = ProjectStatus.ABANDONED
        project.abandoned_at = clock.now()
        project.save(update_fields=["status", "abandoned_at", "updated_at"])
    logger.info("order abandoned", extra={"action": "project_abandon", "project_id": str(project.id)})
    return f"Project {project.id} abandoned ({event_type})."
