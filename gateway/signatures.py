"""Every signature the HTTP surface checks or makes, and nothing else.

- Stripe: `Stripe-Signature`, verified by the official library over the raw body
  (tolerance 300 s); the verified bytes are then parsed by gateway.parsers.loads_strict,
  like every other body (the library's own json.loads takes NaN and deep nesting).
- Standard Webhooks (agent callbacks, engine -> agent and engine -> execute
  calls): `webhook-id`, `webhook-timestamp`, `webhook-signature`, HMAC over
  `id.timestamp.body`, 5-minute window. We sign with WEBHOOK_SECRET and accept
  WEBHOOK_SECRET or WEBHOOK_SECRET_NEXT, so keys rotate without downtime (E14).
- Each signature is bound to its purpose and route: agent callbacks to
  /api/orchestration/webhooks are signed with WEBHOOK_SECRET itself (the public
  contract); the engine's own calls (a dispatch to one agent route, a kick of
  /api/workflows/execute) with a key derived from it for that purpose and that
  route (`route_key`). So a callback's exact bytes and headers do not verify at
  the execute route, and a dispatch to /api/core-platform/setup does not verify
  at any other route. Derived keys are HMACs of the live keys, so rotation works
  the same for them; nothing new to configure. Replays on the same route are the
  receivers' job: one webhook-id is accepted once per route (gateway/services.py).
- Cron: `Authorization: Bearer $CRON_SECRET`, compared in constant time.

Secrets come from settings only and never appear in a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

from gateway.exceptions import BadSignature, MalformedBody, NotConfigured
from gateway.parsers import loads_strict

logger = logging.getLogger("gateway")

STRIPE_TOLERANCE_SECONDS = 300
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# The one route signed with WEBHOOK_SECRET itself: agents (ours or anyone's) call back there.
CALLBACK_ROUTE = "/api/orchestration/webhooks"
EXECUTE_ROUTE = "/api/workflows/execute"
CALLBACK, EXECUTE, DISPATCH = "callback", "execute", "dispatch"
_DERIVATION_LABEL = "site-factory engine signature v1"


def purpose_of(route: str) -> str:
    """What a signed request to `route` is for: the agents' callback, the engine's kick, or a dispatch."""
    if route == CALLBACK_ROUTE:
        return CALLBACK
    return EXECUTE if route == EXECUTE_ROUTE else DISPATCH


def route_key(secret: str, route: str) -> str:
    """The whsec_ key that signs requests to `route`: `secret` itself for the callback route (the
    contract agents rely on), else HMAC-SHA256(secret's key bytes, purpose + route). A holder of a
    derived key (a log of one agent route, say) learns nothing of the others or of the secret."""
    purpose = purpose_of(route)
    if purpose == CALLBACK:
        return secret
    raw = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    derived = hmac.new(raw, f"{_DERIVATION_LABEL}|{purpose}|{route}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(derived).decode()


def _webhook(secret: str, name: str, route: str) -> Webhook:
    try:
        return Webhook(route_key(secret, route))
    except (EmptyWebhookSecretError, ValueError, binascii.Error) as exc:
        raise NotConfigured(f"{name} is not a valid signing key (expected whsec_<base64>).") from exc


def _live_keys(route: str) -> list[Webhook]:
    keys = [(settings.WEBHOOK_SECRET, "WEBHOOK_SECRET"), (settings.WEBHOOK_SECRET_NEXT, "WEBHOOK_SECRET_NEXT")]
    webhooks = [_webhook(secret, name, route) for secret, name in keys if secret]
    if not webhooks:
        raise NotConfigured("No webhook signing key is configured (WEBHOOK_SECRET).")
    return webhooks


def standard_sign(body: bytes, *, msg_id: str, route: str, secret: str) -> dict[str, str]:
    """Standard Webhooks headers for a request to `route` (its purpose's key, derived from `secret`).
    Raises ValueError / binascii.Error for a secret that is not a whsec_ key."""
    now = datetime.now(UTC)  # real time: the receiver checks it against its own clock
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(route_key(secret, route)).sign(msg_id, now, body.decode()),
    }


def standard_verify(body: bytes, headers: Mapping[str, str], *, route: str) -> str:
    """Check a Standard Webhooks signature for `route` with every live key; returns the webhook-id.

    The library raises ValueError / binascii.Error (not its own error) on a
    malformed signature header or a body that is not UTF-8: all are a bad signature.
    """
    wanted = {name: headers.get(name, "") for name in STANDARD_HEADERS}
    missing = [name for name, value in wanted.items() if not value]
    if missing:
        raise BadSignature(f"Missing signature headers: {', '.join(missing)}.", detail={"missing": missing})
    if len(wanted["webhook-id"]) > 255:
        raise BadSignature("The webhook-id header is longer than 255 characters.")
    reason = "no key matched"
    for webhook in _live_keys(route):
        try:
            webhook.verify(body, wanted, json_parse=False)
        except WebhookVerificationError as exc:
            reason = str(exc)
        except (ValueError, binascii.Error, OverflowError):
            reason = "malformed signature header or body"
        else:
            return wanted["webhook-id"]
    raise BadSignature(f"Signature rejected: {reason}.")


def stripe_verify(body: bytes, signature_header: str | None) -> dict[str, Any]:
    """Verify a Stripe event with the official library; returns the event as plain data."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise NotConfigured("The payment webhook is not configured (STRIPE_WEBHOOK_SECRET).")
    if not signature_header:
        raise BadSignature("Missing Stripe-Signature header.")
    try:
        payload = body.decode("utf-8")
    except UnicodeDecodeError as exc:  # nobody signs such a body; the library would raise the same
        raise MalformedBody("The body is not a Stripe event (not UTF-8).") from exc
    try:
        stripe.WebhookSignature.verify_header(payload, signature_header, secret, tolerance=STRIPE_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise BadSignature(f"Stripe signature rejected: {_first_sentence(str(exc))}") from exc
    except (TypeError, ValueError) as exc:  # a non-ASCII signature makes hmac.compare_digest raise
        raise BadSignature("Stripe signature rejected: malformed Stripe-Signature header.") from exc
    try:
        event = loads_strict(payload)
    except MalformedBody:
        # Signed with our secret, yet not storable: worth a warning (a broken sender, or a leaked secret).
        logger.warning("signed stripe body refused", extra={"action": "webhook_refused", "source": "stripe"})
        raise
    if not isinstance(event, dict):
        raise MalformedBody("The body is not a Stripe event (not a JSON object).")
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str) or len(event["id"]) > 255:
        raise MalformedBody("The body is not a Stripe event (no string id or type).")
    return event


def cron_authorized(authorization: str | None) -> bool:
    """True when the header is exactly `Bearer $CRON_SECRET` (constant-time; never with no secret)."""
    secret = settings.CRON_SECRET
    if not secret or not authorization:
        return False
    return hmac.compare_digest(authorization.encode(), f"Bearer {secret}".encode())


def _first_sentence(message: str) -> str:
    return message.split(". ")[0].rstrip(".") + "."
