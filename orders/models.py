"""A project is one order: the customer's brief, its payment and its delivery."""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models


def new_status_token() -> str:
    return secrets.token_urlsafe(24)


class ProjectStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"  # brief received, not paid yet
    PAID = "paid", "Paid"  # payment confirmed, workflow about to start
    IN_PROGRESS = "in_progress", "In progress"  # the workflow is running
    DELIVERED = "delivered", "Delivered"  # the site is live and the customer told
    FAILED = "failed", "Failed"  # the workflow failed for good; staff were emailed
    CANCELLED = "cancelled", "Cancelled"  # stopped by staff


class Language(models.TextChoices):
    FR = "fr", "Français"
    EN = "en", "English"


DEFAULT_PAGES = ["Home", "About", "Services", "Contact"]


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    business_name = models.CharField(max_length=120)
    sector = models.CharField(max_length=80, blank=True)
    city = models.CharField(max_length=80, blank=True)
    description = models.TextField(blank=True, max_length=2000)
    pages = models.JSONField(default=list)
    brand_color = models.CharField(max_length=7, default="#2563eb")
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.FR)
    contact_email = models.EmailField()
    # Who may read it over the API: the user whose token or session created it (staff see all).
    # Null for orders made by staff tooling; deleting a user keeps their orders, for staff only.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="projects"
    )
    # Optional business details of the brief (agents/business_details.py): phone, address, hours, legal, images.
    details = models.JSONField(default=dict, blank=True)
    slug = models.SlugField(max_length=80, unique=True, null=True, blank=True)  # fixed by the setup step
    status = models.CharField(max_length=20, choices=ProjectStatus.choices, default=ProjectStatus.AWAITING_PAYMENT)
    status_token = models.CharField(max_length=64, unique=True, default=new_status_token, editable=False)
    checkout_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    amount_cents = models.PositiveIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    site_url = models.URLField(blank=True)  # empty until the site is live
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"]), models.Index(fields=["contact_email"])]

    def __str__(self) -> str:
        return self.business_name
