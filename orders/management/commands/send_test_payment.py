"""`manage.py send_test_payment <project>`: pay an order on a running server as Stripe would.

Posts a `checkout.session.completed` event for the project, signed with STRIPE_WEBHOOK_SECRET
exactly as Stripe signs (the official library's signer), to <url>/api/payments/webhook. The
server checks it like any real event: a local stand-in for `stripe trigger`, with no account
and no network beyond this machine.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
import uuid
from typing import Any

import requests
import stripe
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from orchestration.cli import positive_float
from orders.models import Project

WEBHOOK_PATH = "/api/payments/webhook"


def find_project(ref: str) -> Project:
    """A project by id, slug or contact email (the newest with that email)."""
    query = Q(slug=ref) | Q(contact_email__iexact=ref)
    with contextlib.suppress(ValueError):  # not an id: the slug or the email may still match
        query |= Q(id=uuid.UUID(ref))
    project = Project.objects.filter(query).order_by("-created_at").first()
    if project is None:
        raise CommandError(f"No project matches {ref!r} (give its id, its slug or its contact email)")
    return project


def checkout_completed(project: Project, *, amount: int, currency: str) -> dict[str, Any]:
    """A checkout.session.completed event in Stripe's shape, with fresh ids."""
    now = int(time.time())
    return {
        "id": f"evt_test_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": f"cs_test_{secrets.token_hex(16)}",
                "object": "checkout.session",
                "amount_subtotal": amount,
                "amount_total": amount,
                "client_reference_id": str(project.id),
                "created": now,
                "currency": currency,
                "customer_details": {"email": project.contact_email, "name": project.business_name},
                "livemode": False,
                "metadata": {},
                "mode": "payment",
                "payment_status": "paid",
                "status": "complete",
            }
        },
    }


class Command(BaseCommand):
    help = "Pay an order on a running server with a correctly signed checkout.session.completed (local testing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="the project's id, slug or contact email")
        parser.add_argument("--url", default=None, help="the server's base URL (default SITE_URL)")
        parser.add_argument(
            "--amount", type=int, default=None, help="amount_total in cents (default the price, ORDER_PRICE_CENTS)"
        )
        parser.add_argument("--currency", default=None, help="the currency (default ORDER_CURRENCY)")
        parser.add_argument("--timeout", type=positive_float, default=10.0, help="seconds to wait for the answer")
        parser.add_argument(
            "--again",
            action="store_true",
            help="send it even if the order is already paid (to see how the server treats a second payment)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            raise CommandError(
                "STRIPE_WEBHOOK_SECRET is empty: set the same value (any whsec_... string works locally) for the "
                "server and for this command"
            )
        project = find_project(options["project"])
        if project.paid_at is not None and not options["again"]:
            # The server would answer 200 "Already fulfilled": a success that paid nothing.
            raise CommandError(
                f"{project.business_name} ({project.id}) is already paid (status {project.status}): another payment "
                "would change nothing. Pass --again to send one anyway."
            )
        amount = settings.ORDER_PRICE_CENTS if options["amount"] is None else options["amount"]
        currency = (options["currency"] or settings.ORDER_CURRENCY).lower()
        event = checkout_completed(project, amount=amount, currency=currency)
        body = json.dumps(event)
        # Stripe's own signer: what the server verifies is exactly what Stripe would send.
        signature = stripe.WebhookSignature.generate_signature_header(body, secret)
        url = (options["url"] or settings.SITE_URL).rstrip("/") + WEBHOOK_PATH
        try:
            response = requests.post(
                url,
                data=body.encode(),
                headers={"Content-Type": "application/json", "Stripe-Signature": signature},
                timeout=options["timeout"],
            )
        except requests.RequestException as exc:
            raise CommandError(f"No answer from {url} ({type(exc).__name__}): is the server running?") from exc
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text[:500]
        self.stdout.write(f"{project.business_name} ({project.id}): {event['type']} {event['id']}")
        self.stdout.write(f"{url} answered {response.status_code}: {json.dumps(answer)}")
        if response.status_code >= 300:
            raise CommandError(f"The server refused the event (HTTP {response.status_code})")
        if isinstance(answer, dict) and answer.get("status") != "processed":
            raise CommandError(f"The event was recorded but not applied: {answer.get('outcome')}")
