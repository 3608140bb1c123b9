"""The customer and the agent, as the product meets them: neither has an account.

A customer is the contact of an order (a Project) and holds its status link; an agent holds the
signing secret and signs each call back. tests/conftest.py makes one of each per test (`customer`,
`agent`), beside the users `superuser`, `staff` and `outsider`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.test import Client
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from gateway.signatures import CALLBACK_ROUTE, route_key
from orders.models import Project


@dataclass
class Customer:
    """Whoever placed the order: reaches it by the status link the mails carry, never by signing in."""

    project: Project
    client: Client = field(default_factory=Client)

    @property
    def email(self) -> str:
        return self.project.contact_email

    @property
    def status_path(self) -> str:
        return reverse("status-page", args=[self.project.status_token])

    def status_page(self) -> Any:
        return self.client.get(self.status_path)


@dataclass(frozen=True)
class Agent:
    """An agent calling the engine back: it signs as Standard Webhooks say, with `secret` itself on
    the callback route and with the key derived from it for the engine's own routes
    (gateway.signatures.route_key)."""

    secret: str

    def headers(
        self,
        body: bytes,
        *,
        msg_id: str | None = None,
        timestamp: float | None = None,
        route: str = CALLBACK_ROUTE,
    ) -> dict[str, str]:
        msg_id = msg_id or f"msg_{time.time_ns()}"
        moment = datetime.fromtimestamp(timestamp if timestamp is not None else time.time(), tz=UTC)
        return {
            "HTTP_WEBHOOK_ID": msg_id,
            "HTTP_WEBHOOK_TIMESTAMP": str(int(moment.timestamp())),
            "HTTP_WEBHOOK_SIGNATURE": Webhook(route_key(self.secret, route)).sign(msg_id, moment, body.decode()),
        }

    def post(self, client: Any, path: str, payload: Any, **sign: Any) -> Any:
        """POST `payload` (JSON, or bytes as they are) to `path`, signed for that route."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sign.setdefault("route", path.split("?", 1)[0])
        return client.post(path, data=body, content_type="application/json", **self.headers(body, **sign))
