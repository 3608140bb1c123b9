"""The agents' tables: the stored files of the database storage, the published sites' contact messages.

The side-effect ledger the agents perform their effects through is the engine's
(`orchestration.models.SideEffect`), still importable from here.
"""

from __future__ import annotations

from django.db import models

from orchestration.models import SideEffect

__all__ = ["ContactMessage", "SideEffect", "StoredFile"]


class StoredFile(models.Model):
    """One file of agents.storage.DatabaseStorage: built and published sites live in the database, not on a
    serverless function's ephemeral disk, so any invocation (build, deploy, the /sites/ view) can read them."""

    name = models.CharField(max_length=500, unique=True)  # the storage name, e.g. "sites/<slug>/index.html"
    content = models.BinaryField()
    size = models.PositiveBigIntegerField()
    modified_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ContactMessage(models.Model):
    """A message a visitor sent through a published site's contact form (agents/contact.py)."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"  # stored; the email to the business is about to go
        SENDING = "sending", "Sending"  # claimed by the request that sends the email
        EMAILED = "emailed", "Emailed"  # the business has it in its inbox
        FAILED = "failed", "Email failed"  # stored but not emailed: staff forward it (see error)

    project = models.ForeignKey("orders.Project", on_delete=models.CASCADE, related_name="contact_messages")
    name = models.CharField(max_length=120)
    email = models.EmailField(max_length=254)
    phone = models.CharField(max_length=30, blank=True)
    message = models.TextField(max_length=5000)
    page = models.CharField(max_length=100, blank=True)  # the site page the form was sent from
    digest = models.CharField(max_length=64)  # sender + text: a double click within minutes is one message
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "digest", "created_at"]), models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"
