"""The webhook inbox: every signed event we accepted, stored before it is applied.

One row per (source, external id): Stripe's event id, or an agent callback's
`webhook-id`. The unique constraint is the deduplication (a retry, or the same
event delivered twice at once, finds the row and changes nothing), and the
row is what staff read and reprocess in the admin.
"""

from __future__ import annotations

from django.db import models


class EventSource(models.TextChoices):
    STRIPE = "stripe", "Stripe"  # payment events, Stripe-Signature
    AGENT = "agent", "Agent callback"  # task reports, Standard Webhooks signature


class EventStatus(models.TextChoices):
    RECEIVED = "received", "Received"  # stored, not applied yet
    PROCESSED = "processed", "Processed"  # applied: it changed what it should have
    IGNORED = "ignored", "Ignored"  # valid but nothing to do (unhandled type, unpaid session, stale report)
    REJECTED = "rejected", "Rejected"  # valid signature, refused content (wrong amount, unknown project)
    FAILED = "failed", "Failed"  # applying it raised; reprocess once the cause is fixed


REPROCESSABLE_STATUSES = (EventStatus.IGNORED, EventStatus.REJECTED, EventStatus.FAILED)


class WebhookEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=16, choices=EventSource.choices)
    external_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    signature_ok = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.RECEIVED)
    outcome = models.TextField(blank=True)  # what applying it did, or why it was refused
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # times it was applied (first delivery + reprocessing)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="webhook_event_unique_per_source"),
        ]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.source} {self.type} {self.external_id} ({self.status})"


class SignedRequest(models.Model):
    """A webhook-id the engine's own signed routes accepted (a dispatch to an agent route, a kick
    of /api/workflows/execute): each is accepted once per route, so a replay of captured bytes and
    headers answers "duplicate" and runs nothing. Rows outlive the signature's 5-minute window
    (after which a replay fails the timestamp check anyway) and are then pruned."""

    id = models.BigAutoField(primary_key=True)
    route = models.CharField(max_length=200)
    webhook_id = models.CharField(max_length=255)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["route", "webhook_id"], name="signed_request_once_per_route"),
        ]

    def __str__(self) -> str:
        return f"{self.route} {self.webhook_id}"
