"""A project is one order: the customer's brief, its payment and its delivery."""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
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
    REFUNDED = "refunded", "Refunded"  # Stripe confirmed the refund (charge.refunded), whoever started it
    ABANDONED = "abandoned", "Abandoned"  # its Checkout Session expired or its delayed payment failed: never paid


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
    # Optional business details of the brief (orders/business_details.py): phone, address, hours, legal, images.
    details = models.JSONField(default=dict, blank=True)
    slug = models.SlugField(max_length=80, unique=True, null=True, blank=True)  # fixed by the setup step
    status = models.CharField(max_length=20, choices=ProjectStatus.choices, default=ProjectStatus.AWAITING_PAYMENT)
    status_token = models.CharField(max_length=64, unique=True, default=new_status_token, editable=False)
    checkout_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    # Where the order page sends the customer to pay (Stripe's hosted Checkout page for that session).
    checkout_url = models.URLField(max_length=2000, blank=True)
    # The order form's one-time token: a double submit of one form finds this project, not a second one.
    submission_key = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    payment_intent_id = models.CharField(max_length=255, blank=True)  # what a refund is made against
    amount_cents = models.PositiveIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    # What Stripe says was refunded so far (charge.amount_refunded, cumulative): a partial refund made in
    # Stripe's dashboard shows here while the order stays as it is; a full one also makes it refunded.
    refunded_cents = models.PositiveIntegerField(default=0)
    site_url = models.URLField(blank=True)  # empty until the site is live
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    abandoned_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The engine's ledger rows whose subject is this order (no column: a generic relation), so
    # `SideEffect.objects.filter(project__id=...)` finds an order's effects (Django compares `project=`
    # with the ledger's own key type: name the id); deleting an order deletes them, as before.
    # The engine's runs whose subject is this order: `project.runs`, `WorkflowRun.objects.filter(
    # project__business_name=...)`. Deleting an order that has runs is refused (orders/receivers.py).
    runs = GenericRelation(
        "orchestration.WorkflowRun",
        content_type_field="subject_type",
        object_id_field="subject_id",
        related_query_name="project",
    )
    side_effects = GenericRelation(
        "orchestration.SideEffect",
        content_type_field="subject_type",
        object_id_field="subject_id",
        related_query_name="project",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"]), models.Index(fields=["contact_email"])]

    def __str__(self) -> str:
        return self.business_name

    @property
    def reference(self) -> str:
        """The order reference a customer quotes: short, stable, unambiguous (from the id)."""
        return f"SF-{self.id.hex[:8].upper()}"


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"  # recorded; Stripe not (yet) reached, or did not answer: safe to retry
    PENDING = "pending", "Pending at Stripe"  # Stripe accepted it and is processing it
    SUCCEEDED = "succeeded", "Succeeded"  # Stripe says the money went back (the refund or charge.refunded)
    FAILED = "failed", "Failed"  # Stripe refused it; the reason is in last_error


class Refund(models.Model):
    """One full refund of an order; at most one per project, whoever started it (staff, a cancel, Stripe)."""

    class Source(models.TextChoices):
        STAFF = "staff", "Staff action"  # the admin's refund action
        CANCEL = "cancel", "Cancelled before delivery"  # automatic, when staff cancel a paid, undelivered order
        STRIPE = "stripe", "Stripe dashboard"  # charge.refunded with no refund of ours: made outside the product

    project = models.OneToOneField(Project, on_delete=models.PROTECT, related_name="refund")
    source = models.CharField(max_length=10, choices=Source.choices)
    status = models.CharField(max_length=10, choices=RefundStatus.choices, default=RefundStatus.REQUESTED)
    # Sent to Stripe with every try: a retry after a timeout gets the same refund back, never a second one.
    idempotency_key = models.CharField(max_length=100, unique=True)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    stripe_refund_id = models.CharField(max_length=255, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_label = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    tries = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)  # charge.refunded received

    def __str__(self) -> str:
        return f"refund of {self.project_id} ({self.status})"


class RevisionStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"  # recorded, its run started
    IN_PROGRESS = "in_progress", "In progress"  # design, build, deploy under way; the current site stays live
    LIVE = "live", "Live"  # the new version is deployed and the customer told
    FAILED = "failed", "Failed"  # the revision run failed for good; the previous version is still live
    CANCELLED = "cancelled", "Cancelled"  # stopped by staff


class Revision(models.Model):
    """A customer's request for changes after delivery, and the run that makes them."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveSmallIntegerField()  # 1, 2... (ORDER_REVISIONS_INCLUDED are included)
    feedback = models.TextField(max_length=2000)
    status = models.CharField(max_length=12, choices=RevisionStatus.choices, default=RevisionStatus.REQUESTED)
    run = models.OneToOneField(
        "orchestration.WorkflowRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="revision"
    )
    applied = models.JSONField(default=list, blank=True)  # what the design step changed, in the customer's words
    not_applied = models.JSONField(default=list, blank=True)  # what it could not understand, said back to them
    created_at = models.DateTimeField(auto_now_add=True)
    live_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="revision_unique_number")]

    def __str__(self) -> str:
        return f"revision {self.number} of {self.project_id} ({self.status})"


class CustomerEmail(models.Model):
    """The ledger of customer emails sent outside a workflow step (failure, refund): one per key."""

    key = models.CharField(max_length=200, unique=True)  # "<kind>:<project id>[...]"
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="customer_emails")
    kind = models.CharField(max_length=40)
    sent_at = models.DateTimeField(null=True, blank=True)  # null: claimed, sending (or the send failed)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} to {self.project_id}"
