"""The side-effect ledger in the admin, read-only.

What the actions really did outside (emails sent, deployments, published files), once per
idempotency key (an effect is never repeated). Staff read it to answer "was the customer
emailed?" or "why was this deploy not redone on retry?"; nobody edits it: a hand-made row would
make an action skip real work. Its subject is shown as what it is (its name, linked to its page):
an app above the engine may subclass this admin to search by its own fields.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.admin import ReadOnlyMixin, admin_link, badge, pretty_json
from orchestration.models import SideEffect


def subject_link(subject: object) -> SafeString | str:
    """A run's or a side effect's subject, linked to its admin page if it has one."""
    if subject is None:
        return "-"
    try:
        return admin_link(subject)
    except NoReverseMatch:  # a subject whose model has no admin page
        return str(subject)


@admin.register(SideEffect)
class SideEffectAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "status_badge", "performed", "subject_link", "task_link", "done_at")
    list_filter = ("status", "kind")
    search_fields = ("key", "kind", "=task_id")
    date_hierarchy = "created_at"
    fields = (
        ("kind", "status_badge", "performed"),
        "key",
        ("subject_link", "task_link"),
        ("created_at", "done_at"),
        "result_block",
    )
    readonly_fields = (
        "kind",
        "status_badge",
        "performed",
        "key",
        "subject_link",
        "task_link",
        "created_at",
        "done_at",
        "result_block",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[SideEffect]:
        return super().get_queryset(request).prefetch_related("subject")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: SideEffect) -> SafeString:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="subject")
    def subject_link(self, obj: SideEffect) -> SafeString | str:
        return subject_link(obj.subject) if obj.subject_id else "-"

    @admin.display(description="task", ordering="task_id")
    def task_link(self, obj: SideEffect) -> SafeString | str:
        # A plain id, not a foreign key (the task may be gone): link it, the admin 404s politely.
        if obj.task_id is None:
            return "-"
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:orchestration_task_change", args=[obj.task_id]), obj.task_id
        )

    @admin.display(description="result")
    def result_block(self, obj: SideEffect) -> SafeString:
        return pretty_json(obj.result)
