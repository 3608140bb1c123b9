"""Every signature the HTTP surface checks, and nothing else.

- Stripe: `Stripe-Signature`, verified by the official library over the raw body
  (tolerance 300 s); the verified bytes are then parsed by gateway.parsers.loads_strict,
  like every other body (the library's own json.loads takes NaN and deep nesting).
- Standard Webhooks (agent callbacks, engine -> agent and engine -> execute
  calls): made and checked by core.signing (two live keys, one key per route and
  purpose); `standard_verify` turns its refusals into the API's errors.
- Cron: `Authorization: Bearer $CRON_SECRET`, compared in constant time.

Secrets come from settings only and never appear in a log line or an error message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from core import signing

# Names this module used to own, kept for their importers (the gateway's tests): they live in core.signing now.
from core.signing import CALLBACK_ROUTE, route_key  # noqa: F401
from gateway.exceptions import BadSignature, MalformedBody, NotConfigured
from gateway.parsers import loads_strict

logger = logging.getLogger("gateway")

STRIPE_TOLERANCE_SECONDS = 300


def standard_verify(body: bytes, headers: Mapping[str, str], *, route: str) -> str:
    """Check a Standard Webhooks signature for `route` with every live key (core.signing.verify);
    returns the webhook-id. A refusal is a BadSignature, no usable key a NotConfigured."""
    try:
        return signing.verify(body, headers, route=route)
    except signing.SignatureRejected as exc:
        raise BadSignature(str(exc), detail={"missing": exc.missing} if exc.missing else None) from exc
    except signing.KeyNotConfigured as exc:
        raise NotConfigured(str(exc)) from exc


def stripe_verify(body: bytes, signature_header: str | None) -> dict[str, Any]:
    """Verify a Stripe event with the official library; returns the event as plain data."""
    import stripe  # here, not at the top: a worker or a cold function that takes no payment never loads it

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
    return signing.constant_time_equal(authorization, f"Bearer {secret}")


def _first_sentence(message: str) -> str:
    return message.split(". ")[0].rstrip(".") + "."
