"""The published sites' contact form: `POST /sites/<slug>/contact` stores the message and emails the business.

The form is plain HTML, so it works without JavaScript (the answer is then a small page in the site's language
with a link back); the page's script posts the same fields with `Accept: application/json` and shows the answer
in place. A visitor is throttled (`contact` rate), a filled honeypot field is answered like a success and
dropped, and the Origin, when the browser sends one, must be the site's own or the product's. A double click
sends one email: the same message from the same address within DUPLICATE_WINDOW is the message already stored.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from agents.models import ContactMessage
from agents.site_ui import UI
from orders.brief import _clean, _printable
from orders.models import Project, ProjectStatus

logger = logging.getLogger("agents")

MAX_NAME = 120
MAX_EMAIL = 254
MAX_PHONE = 30
MAX_MESSAGE = 5000
MIN_MESSAGE = 2
DUPLICATE_WINDOW = timedelta(minutes=10)
HONEYPOT_FIELD = "website"

ERRORS = {
    "fr": {
        "name": "Indiquez votre nom.",
        "email": "Indiquez une adresse e-mail valide, pour que nous puissions vous répondre.",
        "phone": "Le numéro de téléphone est trop long.",
        "message": "Écrivez votre message.",
        "too_long": "Ce champ est trop long ({limit} caractères au plus).",
        "invalid": "Le message n'a pas été envoyé : {fields}.",
    },
    "en": {
        "name": "Give your name.",
        "email": "Give a valid email address so that we can answer you.",
        "phone": "The phone number is too long.",
        "message": "Write your message.",
        "too_long": "This field is too long (at most {limit} characters).",
        "invalid": "The message was not sent: {fields}.",
    },
}


@dataclass(frozen=True)
class ContactOutcome:
    message: ContactMessage | None  # None for a honeypot catch: nothing stored, nothing sent
    duplicate: bool = False


class ContactInvalid(ValueError):
    def __init__(self, errors: dict[str, list[str]], message: str) -> None:
        self.errors = errors
        super().__init__(message)


def site_project(slug: str) -> Project | None:
    """The project whose published site takes messages: delivered, or being revised after it was published. An
    order still building its first site has a slug (guessable from the name) but no site: it takes none."""
    published = Q(status=ProjectStatus.DELIVERED) | (
        Q(status=ProjectStatus.IN_PROGRESS) & (Q(delivered_at__isnull=False) | ~Q(site_url=""))
    )
    return Project.objects.filter(published, slug=slug).first()


def allowed_origins(project: Project) -> set[str]:
    origins = set()
    for url in (settings.SITE_URL, project.site_url):
        parts = urlsplit(url or "")
        if parts.scheme and parts.netloc:
            origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins


def clean_contact(data: Any, language: str) -> dict[str, str]:
    """The form's fields, validated; raise ContactInvalid naming each bad field in the site's language."""
    texts = ERRORS[language]
    errors: dict[str, list[str]] = {}
    values = {key: _printable(str(data.get(key) or "")).strip() for key in ("name", "email", "phone", "message")}
    values["name"] = _clean(values["name"])
    for key, limit in (("name", MAX_NAME), ("email", MAX_EMAIL), ("phone", MAX_PHONE), ("message", MAX_MESSAGE)):
        if len(values[key]) > limit:
            errors.setdefault(key, []).append(texts["too_long"].format(limit=limit))
    if not values["name"]:
        errors.setdefault("name", []).append(texts["name"])
    try:
        validate_email(values["email"])
    except ValidationError:
        errors.setdefault("email", []).append(texts["email"])
    if len(values["message"]) < MIN_MESSAGE:
        errors.setdefault("message", []).append(texts["message"])
    if errors:
        fields = "; ".join(" ".join(messages) for messages in errors.values())
        raise ContactInvalid(errors, texts["invalid"].format(fields=fields))
    return values


def contact_message_receive(*, project: Project, data: Any, page: str = "") -> ContactOutcome:
    """Validate, store and email one message; a honeypot catch stores nothing and sends nothing."""
    if str(data.get(HONEYPOT_FIELD) or "").strip():
        logger.info("contact honeypot", extra={"action": "contact_honeypot", "project_id": str(project.id)})
        return ContactOutcome(message=None)
    values = clean_contact(data, project.language)
    digest = hashlib.sha256(f"{values['email'].lower()}\0{values['message']}".encode()).hexdigest()
    with transaction.atomic():
        Project.objects.select_for_update().filter(id=project.id).first()  # serialises a double click
        existing = ContactMessage.objects.filter(
            project=project, digest=digest, created_at__gte=timezone.now() - DUPLICATE_WINDOW
        ).first()
        if existing is not None:
            return ContactOutcome(message=existing, duplicate=True)
        message = ContactMessage.objects.create(
            project=project,
            name=values["name"],
            email=values["email"],
            phone=values["phone"],
            message=values["message"],
            page=_clean(page)[:100],
            digest=digest,
        )
    _email_business(project, message)
    return ContactOutcome(message=message)


def _email_business(project: Project, message: ContactMessage) -> None:
    """Email the business once, reply-to the visitor; a failure is kept on the row for staff to see."""
    language = project.language if project.language in UI else "en"
    subject = {
        "fr": f"Nouveau message de {message.name} depuis votre site",
        "en": f"New message from {message.name} via your website",
    }[language]
    body = render_to_string(f"emails/contact_message.{language}.txt", {"project": project, "message": message}).strip()
    email = EmailMessage(
        subject=" ".join(subject.split()),
        body=body + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[project.contact_email],
        reply_to=[message.email],
    )
    # Claimed before sending, so two requests can never both send it.
    claimed = ContactMessage.objects.filter(id=message.id, status=ContactMessage.Status.RECEIVED).update(
        status=ContactMessage.Status.SENDING
    )
    if not claimed:
        return
    try:
        email.send()
    except OSError as exc:  # smtplib errors are OSErrors; the message stays stored and visible in the admin
        ContactMessage.objects.filter(id=message.id).update(status=ContactMessage.Status.FAILED, error=str(exc)[:500])
        logger.warning(
            "contact email failed",
            extra={"action": "contact_email_failed", "project_id": str(project.id), "error": type(exc).__name__},
        )
        return
    ContactMessage.objects.filter(id=message.id).update(status=ContactMessage.Status.EMAILED, emailed_at=timezone.now())
    logger.info("contact message emailed", extra={"action": "contact_emailed", "project_id": str(project.id)})


def contact_messages_prune(*, older_than_days: int) -> int:
    """Delete messages past their retention (the privacy page promises it); returns how many went."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = ContactMessage.objects.filter(created_at__lt=cutoff).delete()
    return deleted
