"""Customer emails for core-platform: subject, plain text and HTML from templates, in French or English."""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

LANGUAGES = ("fr", "en")
SUBJECTS: dict[str, dict[str, str]] = {
    "payment_received": {
        "fr": "Paiement reçu : le site de {business_name} est en préparation",
        "en": "Payment received: the {business_name} website is being built",
    },
    "site_live": {
        "fr": "Le site de {business_name} est en ligne",
        "en": "The {business_name} website is live",
    },
}
# The links and facts each email cannot do without; a missing one is a bug in the caller, not a blank in the mail.
REQUIRED_CONTEXT: dict[str, tuple[str, ...]] = {
    "payment_received": ("business_name", "status_url"),
    "site_live": ("business_name", "site_url", "status_url", "campaign_summary"),
}
URL_KEYS = ("status_url", "site_url")
ABSOLUTE_URL = re.compile(r"^https?://[^\s\"'<>]+$")


def _checked_context(kind: str, language: str, context: dict[str, Any]) -> dict[str, Any]:
    if kind not in SUBJECTS:
        raise ValueError(f"unknown email kind {kind!r}; expected one of {', '.join(SUBJECTS)}")
    if language not in LANGUAGES:
        raise ValueError(f"unknown email language {language!r}; expected one of {', '.join(LANGUAGES)}")
    missing = [key for key in REQUIRED_CONTEXT[kind] if not str(context.get(key) or "").strip()]
    if missing:
        raise ValueError(f"email {kind!r} needs {', '.join(missing)} in its context")
    for key in URL_KEYS:
        if key in REQUIRED_CONTEXT[kind] and not ABSOLUTE_URL.match(str(context[key])):
            raise ValueError(f"email {kind!r}: {key} must be an absolute http(s) URL, got {context[key]!r}")
    team_name = parseaddr(settings.DEFAULT_FROM_EMAIL)[0] or "Studio"
    return {"team_name": team_name, **context, "language": language}


def render_email(kind: str, *, language: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text_body, html_body) for kind 'payment_received' or 'site_live'."""
    ctx = _checked_context(kind, language, context)
    # Headers may not contain line breaks (Django refuses them), so the customer's name is flattened first.
    name = " ".join(str(ctx["business_name"]).split())
    subject = SUBJECTS[kind][language].format(business_name=name)
    ctx["subject"] = subject
    text = render_to_string(f"emails/{kind}.{language}.txt", ctx).strip() + "\n"
    html = render_to_string(f"emails/{kind}.{language}.html", ctx)
    return subject, text, html


def send_email(kind: str, *, to: str | list[str], language: str, context: dict[str, Any]) -> None:
    """Send one email as plain text with an HTML alternative, from settings.DEFAULT_FROM_EMAIL."""
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise ValueError(f"email {kind!r} has no recipient")
    subject, text, html = render_email(kind, language=language, context=context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, recipients)
    message.attach_alternative(html, "text/html")
    message.send()
