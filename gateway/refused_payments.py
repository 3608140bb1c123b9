"""The payments the inbox refused, as staff read them: the order each was for, and why in words.

metrics' attention lists (the admin's home, the dashboard, an order's page) show them; the inbox
is this app's, so gateway hands this reader to metrics when it starts (gateway/apps.py).
"""

from __future__ import annotations

import uuid

from gateway.models import EventSource, EventStatus, WebhookEvent
from metrics.attention import LIMIT, RefusedPayment
from orders.models import Project


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
