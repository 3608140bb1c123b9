"""The webhook inbox in the admin: every event, its payload and what it did; reprocess in bulk.

Reprocessing is confirmed first on the page the engine's acts use (how many events it
will touch, which will be refused and why), then goes through
`gateway.services.webhook_reprocess`, which records the act (OperatorAction
REPROCESS_EVENT) with the staff user; the admin adds Django's LogEntry. An event that
is not ignored, rejected or failed is refused and left unchanged.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from core.admin import ActPermissionMixin, admin_link, badge
from gateway.models import REPROCESSABLE_STATUSES, EventSource, EventStatus, SignedRequest, WebhookEvent
from gateway.refused_payments import project_of_event
from gateway.services import webhook_reprocess
from orchestration.admin import Done, Plan, confirmed_act
from orchestration.services import Actor


@admin.register(WebhookEvent)
class WebhookEventAdmin(ActPermissionMixin, admin.ModelAdmin):
    list_display = ["received_at", "source", "type", "external_id", "status_badge", "attempts", "short_outcome"]
    list_filter = ["source", "status", "type", "received_at"]
    search_fields = ["external_id", "type", "outcome"]
    date_hierarchy = "received_at"
    ordering = ["-received_at"]
    actions = ["reprocess"]
    readonly_fields = [
        "project_link",
        "source",
        "external_id",
        "type",
        "signature_ok",
        "status_badge",
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

    def has_delete_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False  # the record of what Stripe and the agents sent: kept, never deleted

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: WebhookEvent) -> SafeString:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="Order")
    def project_link(self, obj: WebhookEvent) -> SafeString | str:
        """The order a payment event was for: staff fix a refused payment from the order's page."""
        project = project_of_event(obj) if obj.source == EventSource.STRIPE else None
        return admin_link(project, f"{project.business_name} ({project.get_status_display()})") if project else "-"

    @admin.display(description="Outcome")
    def short_outcome(self, obj: WebhookEvent) -> str:
        return obj.outcome if len(obj.outcome) <= 90 else obj.outcome[:87] + "..."

    @admin.display(description="Payload")
    def payload_pretty(self, obj: WebhookEvent) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False))

    @admin.action(description="Reprocess the selected events", permissions=["act"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> TemplateResponse | None:
        actor = Actor.of_user(request.user)
        allowed = ", ".join(str(s) for s in REPROCESSABLE_STATUSES)

        def plan(event: WebhookEvent) -> Plan:
            if event.status not in REPROCESSABLE_STATUSES:
                return [], f"The event is {event.status}; only {allowed} events can be reprocessed."
            return [f"apply {event.type} again (attempt {event.attempts + 1})"], ""

        def act(event: WebhookEvent) -> Done:
            before = event.status
            event = webhook_reprocess(event=event, actor=actor)  # refusals raise IllegalTransition
            message = f"Reprocessed ({before} -> {event.status}): {event.outcome}"
            # Every event's result on its own line: a rejected-again event must not hide in a summary.
            return Done(message, messages.INFO if event.status == EventStatus.PROCESSED else messages.WARNING)

        return confirmed_act(
            self,
            request,
            queryset.order_by("received_at"),
            title="Reprocess the selected events",
            plan=plan,
            act=act,
            noun=None,
            column="what it will do",
        )


class MaskedTokenAdmin(TokenAdmin):
    """API tokens without their keys: a key is a password, shown once when it is made."""

    list_display = ("key_hint", "user", "created")

    @admin.display(description="key")
    def key_hint(self, obj: TokenProxy) -> str:
        return f"{obj.key[:4]}…"

    def save_model(self, request: HttpRequest, obj: TokenProxy, form: object, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(
                request, f"Token for {obj.user}: {obj.key} (copy it now: it is not shown again)", messages.WARNING
            )


admin.site.unregister(TokenProxy)
admin.site.register(TokenProxy, MaskedTokenAdmin)


@admin.register(SignedRequest)
class SignedRequestAdmin(admin.ModelAdmin):
    """The webhook-ids the engine's signed routes accepted in the last 15 minutes (replays of
    them answer "duplicate"): read-only, for staff looking into a refused or replayed call."""

    list_display = ["received_at", "route", "webhook_id"]
    search_fields = ["webhook_id", "route"]
    ordering = ["-received_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SignedRequest | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SignedRequest | None = None) -> bool:
        return False  # deleting one would let its replay run again; the engine prunes them itself
