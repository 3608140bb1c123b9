"""The webhook inbox in the admin: every event, its payload and what it did; reprocess in bulk.

Reprocessing goes through `gateway.services.webhook_reprocess`, which records the
act (OperatorAction REPROCESS_EVENT) with the staff user and refuses, changing
nothing, an event that is not ignored, rejected or failed.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from gateway.models import WebhookEvent
from gateway.services import webhook_reprocess
from orchestration.exceptions import IllegalTransition
from orchestration.services import Actor


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "source", "type", "external_id", "status", "attempts", "short_outcome"]
    list_filter = ["source", "status", "type", "received_at"]
    search_fields = ["external_id", "type", "outcome"]
    date_hierarchy = "received_at"
    ordering = ["-received_at"]
    actions = ["reprocess"]
    readonly_fields = [
        "source",
        "external_id",
        "type",
        "signature_ok",
        "status",
        "outcome",
        "received_at",
        "processed_at",
        "attempts",
        "payload_pretty",
    ]
    exclude = ["payload"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # events arrive signed over HTTP, never typed in

    def has_change_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False  # read-only: the one way to act on an event is the reprocess action

    @admin.display(description="Outcome")
    def short_outcome(self, obj: WebhookEvent) -> str:
        return obj.outcome if len(obj.outcome) <= 90 else obj.outcome[:87] + "..."

    @admin.display(description="Payload")
    def payload_pretty(self, obj: WebhookEvent) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False))

    @admin.action(description="Reprocess the selected events")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        actor = Actor.of_user(request.user)
        for event in queryset.order_by("received_at"):
            try:
                event = webhook_reprocess(event=event, actor=actor)
            except IllegalTransition as exc:
                self.message_user(request, f"Event {event.id}: refused, nothing changed. {exc}", messages.ERROR)
                continue
            level = messages.SUCCESS if event.status == "processed" else messages.WARNING
            self.message_user(request, f"Event {event.id}: {event.status}. {event.outcome}", level)
