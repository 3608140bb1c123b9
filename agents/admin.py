"""The agents' tables in the admin, read-only.

The side-effect ledger: what the agents really did outside (emails sent, deployments,
published files), once per idempotency key (an effect is never repeated). Staff read it to answer "was the
customer emailed?" or "why was this deploy not redone on retry?"; nobody edits it: a
hand-made row would make an agent skip real work. The stored files: the built and
published sites kept in the database storage.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from agents.models import ContactMessage, SideEffect, StoredFile
from core.admin import ReadOnlyMixin, admin_link, badge, pretty_json


@admin.register(SideEffect)
class SideEffectAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "status_badge", "performed", "project_link", "task_link", "done_at")
    list_filter = ("status", "kind")
    search_fields = ("key", "kind", "project__business_name", "project__contact_email", "project__slug", "=task_id")
    date_hierarchy = "created_at"
    list_select_related = ("project",)
    fields = (
        ("kind", "status_badge", "performed"),
        "key",
        ("project_link", "task_link"),
        ("created_at", "done_at"),
        "result_block",
    )
    readonly_fields = (
        "kind",
        "status_badge",
        "performed",
        "key",
        "project_link",
        "task_link",
        "created_at",
        "done_at",
        "result_block",
    )

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: SideEffect) -> SafeString:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="project", ordering="project__business_name")
    def project_link(self, obj: SideEffect) -> SafeString | str:
        return admin_link(obj.project) if obj.project_id else "-"

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


@admin.register(StoredFile)
class StoredFileAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Files of the database storage (built and published sites): names and sizes, never edited
    here, since a page changed by hand would be overwritten by the next build anyway."""

    list_display = ("name", "size", "modified_at")
    search_fields = ("name",)
    date_hierarchy = "modified_at"
    fields = ("name", "size", "modified_at")
    readonly_fields = fields


@admin.register(ContactMessage)
class ContactMessageAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Messages visitors sent through the published sites; a failed email is forwarded by hand from here."""

    list_display = ("created_at", "project_link", "name", "email", "status", "emailed_at")
    list_filter = ("status",)
    search_fields = ("name", "email", "project__business_name", "project__slug")
    date_hierarchy = "created_at"
    list_select_related = ("project",)
    fields = ("project_link", ("name", "email", "phone"), "message", "page", ("status", "emailed_at"), "error")
    readonly_fields = ("project_link", "name", "email", "phone", "message", "page", "status", "emailed_at", "error")

    @admin.display(description="Project")
    def project_link(self, obj: ContactMessage) -> SafeString:
        return admin_link(obj.project)
