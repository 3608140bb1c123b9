"""Customer emails for core-platform: subject, plain text and HTML from templates, in French or English."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

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
    "order_failed": {
        "fr": "Un problème retarde le site de {business_name} : notre équipe s'en occupe",
        "en": "A problem is holding up the {business_name} website: our team is on it",
    },
    "refunded": {
        "fr": "Remboursement de votre commande pour {business_name}",
        "en": "Your order for {business_name} has been refunded",
    },
    "revision_live": {
        "fr": "La nouvelle version du site de {business_name} est en ligne",
        "en": "The new version of the {business_name} website is live",
    },
    "revision_failed": {
        "fr": "Vos modifications du site de {business_name} sont retardées : notre équipe s'en occupe",
        "en": "Your changes to the {business_name} website are held up: our team is on it",
    },
}
# The links and facts each email cannot do without; a missing one is a bug in the caller, not a blank in the mail.
# Every customer email says which order it is about and what was paid (`order_context`).
ORDER_FACTS = ("order_reference", "amount_paid")
REQUIRED_CONTEXT: dict[str, tuple[str, ...]] = {
    "payment_received": ("business_name", "status_url", *ORDER_FACTS, "paid_on"),
    "site_live": ("business_name", "site_url", "status_url", "campaign_summary", *ORDER_FACTS),
    "order_failed": ("business_name", "status_url", "support_email", *ORDER_FACTS),
    "refunded": ("business_name", "status_url", "refund_amount", *ORDER_FACTS),
    "revision_live": ("business_name", "site_url", "status_url", *ORDER_FACTS),
    "revision_failed": ("business_name", "status_url", "support_email", "revision_number", *ORDER_FACTS),
}
ORDER_LINE = {
    "fr": "Commande {order_reference} · montant payé : {amount_paid}",
    "en": "Order {order_reference} · amount paid: {amount_paid}",
}
MONTHS = {
    "fr": (
        [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ],
        "{day} {month} {year}",
    ),
    "en": (
        [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        "{month} {day}, {year}",
    ),
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
    """(subject, text_body, html_body) for one of SUBJECTS' kinds."""
    ctx = _checked_context(kind, language, context)
    # Headers may not contain line breaks (Django refuses them), so the customer's name is flattened first.
    name = " ".join(str(ctx["business_name"]).split())
    subject = SUBJECTS[kind][language].format(business_name=name)
    ctx["subject"] = subject
    ctx["order_line"] = ORDER_LINE[language].format(**ctx)
    text = render_to_string(f"emails/{kind}.{language}.txt", ctx).strip() + "\n"
    # In code, not in each template: no customer email can lose the order's reference and amount.
    text += f"\n--\n{ctx['order_line']}\n"
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


def format_money(cents: int, currency: str, language: str) -> str:
    """'399,00 €' in French, '€399.00' in English (other currencies: '399.00 USD')."""
    amount = f"{Decimal(cents) / 100:.2f}"
    symbol = {"eur": "€", "usd": "$", "gbp": "£"}.get(currency.lower())
    if language == "fr":
        return f"{amount.replace('.', ',')}\N{NO-BREAK SPACE}{symbol or currency.upper()}"
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"


def format_date(moment: datetime, language: str) -> str:
    """'2 décembre 2026' / 'December 2, 2026', in the customers' time zone."""
    local = moment.astimezone(ZoneInfo(settings.CUSTOMER_TIME_ZONE))
    months, pattern = MONTHS.get(language, MONTHS["en"])
    return pattern.format(day=local.day, month=months[local.month - 1], year=local.year)


def order_context(project: Any) -> dict[str, Any]:
    """The facts every customer email carries: reference, amount paid and when, and who to write to.

    An order not paid yet (never emailed today) would read "0,00 €": the amount comes from the
    payment Stripe confirmed, falling back on the configured price only for a paid order without one.
    """
    language = project.language if project.language in LANGUAGES else "en"
    cents = project.amount_cents if project.amount_cents is not None else settings.ORDER_PRICE_CENTS
    currency = project.currency or settings.ORDER_CURRENCY
    return {
        "business_name": project.business_name,
        "order_reference": project.reference,
        "amount_paid": format_money(cents, currency, language),
        "paid_on": format_date(project.paid_at, language) if project.paid_at else "",
        "support_email": settings.SUPPORT_EMAIL,
    }


# Google Ads bills a campaign up to its daily budget times the average days in a month.
DAYS_PER_MONTH = Decimal("30.4")


def campaign_terms(campaign: dict[str, Any], language: str) -> dict[str, str]:
    """Budget per day and per month, who pays it and how to approve it, in the customer's words."""
    currency = str(campaign.get("currency") or settings.ORDER_CURRENCY)
    daily = int(campaign.get("daily_budget_cents") or 0)
    monthly = int((Decimal(daily) * DAYS_PER_MONTH).to_integral_value())
    if language == "fr":
        return {
            "budget_per_day": format_money(daily, currency, language),
            "budget_per_month": format_money(monthly, currency, language),
            "who_pays": "Ce budget n'est pas compris dans votre commande : vous le payez directement à Google, "
            "sur votre compte Google Ads, seulement une fois la campagne lancée.",
            "how_to_approve": "La campagne est créée en pause : rien n'est dépensé. Pour la lancer, répondez "
            f"« J'approuve » à notre e-mail ou écrivez à {settings.SUPPORT_EMAIL} ; vous pouvez aussi "
            "l'activer vous-même dans Google Ads.",
        }
    return {
        "budget_per_day": format_money(daily, currency, language),
        "budget_per_month": format_money(monthly, currency, language),
        "who_pays": "This budget is not part of your order: you pay it to Google directly, on your Google Ads "
        "account, and only once the campaign runs.",
        "how_to_approve": 'The campaign is created paused: nothing is spent. To start it, reply "I approve" to '
        f"our email or write to {settings.SUPPORT_EMAIL}; you can also switch it on yourself in Google Ads.",
    }
