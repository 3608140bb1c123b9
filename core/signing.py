"""Standard Webhooks signatures, made and checked in this one place.

- Headers `webhook-id`, `webhook-timestamp`, `webhook-signature`: an HMAC over
  `id.timestamp.body`, accepted within a 5-minute window (the library's).
- We sign with WEBHOOK_SECRET and accept WEBHOOK_SECRET or WEBHOOK_SECRET_NEXT, so
  signing keys rotate without downtime: two live keys, the current and the next.
- Each signature is bound to its purpose and route: agent callbacks to
  CALLBACK_ROUTE are signed with WEBHOOK_SECRET itself (the public contract); the
  engine's own calls (a dispatch to one agent route, a kick of EXECUTE_ROUTE) with
  a key derived from it for that purpose and that route (`route_key`). So a
  callback's exact bytes and headers do not verify at the execute route, and a
  dispatch to /api/core-platform/setup does not verify at any other route. Derived
  keys are HMACs of the live keys, so rotation works the same for them; nothing new
  to configure. Replays on the same route are the receivers' job: one webhook-id is
  accepted once per route (gateway/services.py).

The engine signs its calls with `signed_headers`; the HTTP surface checks them with
`verify` (gateway.signatures turns its errors into API errors). Secrets come from
settings only and never appear in a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# The one route signed with WEBHOOK_SECRET itself: agents (ours or anyone's) call back there.
CALLBACK_ROUTE = "/api/orchestration/webhooks"
EXECUTE_ROUTE = "/api/workflows/execute"
CALLBACK, EXECUTE, DISPATCH = "callback", "execute", "dispatch"
_DERIVATION_LABEL = "site-factory engine signature v1"
MAX_ID_LENGTH = 255


class SignatureRejected(Exception):
    """The request's signature is missing, malformed, stale or matches no live key.
    `missing` names the absent headers, if that is why."""

    def __init__(self, message: str, *, missing: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing = missing or []


class KeyNotConfigured(ImproperlyConfigured):
    """No live signing key, or one that is not a whsec_<base64> key."""


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


def sign(body: bytes, *, msg_id: str, route: str, secret: str) -> dict[str, str]:
    """Standard Webhooks headers for a request to `route` (its purpose's key, derived from `secret`).
    Raises ValueError / binascii.Error for a secret that is not a whsec_ key."""
    now = datetime.now(UTC)  # real time: the receiver checks it against its own clock
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(route_key(secret, route)).sign(msg_id, now, body.decode()),
    }


def signed_headers(body: bytes, *, msg_id: str, route: str) -> dict[str, str]:
    """Standard Webhooks headers for `body` sent to `route`, signed with the current key (WEBHOOK_SECRET)
    or, for the engine's own routes, the key derived from it for that route (a signature verifies at
    its one route only); receivers accept it and WEBHOOK_SECRET_NEXT, so keys rotate without downtime."""
    secret = settings.WEBHOOK_SECRET
    if not secret:
        raise ImproperlyConfigured("HTTP dispatch needs WEBHOOK_SECRET (a whsec_ key) to sign its calls.")
    try:
        return sign(body, msg_id=msg_id, route=route, secret=secret)
    except (ValueError, binascii.Error) as exc:
        raise ImproperlyConfigured("WEBHOOK_SECRET is not a valid whsec_<base64> key.") from exc


def _webhook(secret: str, name: str, route: str) -> Webhook:
    try:
        return Webhook(route_key(secret, route))
    except (EmptyWebhookSecretError, ValueError, binascii.Error) as exc:
        raise KeyNotConfigured(f"{name} is not a valid signing key (expected whsec_<base64>).") from exc


def _live_keys(route: str) -> list[Webhook]:
    keys = [(settings.WEBHOOK_SECRET, "WEBHOOK_SECRET"), (settings.WEBHOOK_SECRET_NEXT, "WEBHOOK_SECRET_NEXT")]
    webhooks = [_webhook(secret, name, route) for secret, name in keys if secret]
    if not webhooks:
        raise KeyNotConfigured("No webhook signing key is configured (WEBHOOK_SECRET).")
    return webhooks


def verify(body: bytes, headers: Mapping[str, str], *, route: str) -> str:
    """Check a Standard Webhooks signature for `route` with every live key; returns the webhook-id.
    Raises SignatureRejected, or KeyNotConfigured when no live key is usable.

    The library raises ValueError / binascii.Error (not its own error) on a
    malformed signature header or a body that is not UTF-8: all are a bad signature.
    """
    wanted = {name: headers.get(name, "") for name in STANDARD_HEADERS}
    missing = [name for name, value in wanted.items() if not value]
    if missing:
        raise SignatureRejected(f"Missing signature headers: {', '.join(missing)}.", missing=missing)
    if len(wanted["webhook-id"]) > MAX_ID_LENGTH:
        raise SignatureRejected(f"The webhook-id header is longer than {MAX_ID_LENGTH} characters.")
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
    raise SignatureRejected(f"Signature rejected: {reason}.")


def constant_time_equal(given: str, expected: str) -> bool:
    """`given == expected` in time that does not depend on where they differ. Compares the UTF-8
    bytes: `hmac.compare_digest` raises TypeError on a str that is not ASCII."""
    return hmac.compare_digest(given.encode(), expected.encode())
