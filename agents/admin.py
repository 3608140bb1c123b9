"""The agents' tables in the admin, read-only.

The side-effect ledger is the engine's (orchestration/admin_ledger.py): here it is also searched
by the order an effect was for. The stored files: the built and published sites kept in the
database storage.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString

from agents.models import ContactMessage, StoredFile
from core.admin import ReadOnlyMixin, admin_link
from orchestration.admin_ledger import SideEffectAdmin
from orchestration.models import SideEffect

admin.site.unregister(SideEffect)


@admin.register(SideEffect)
class OrderSideEffectAdmin(SideEffectAdmin):
    """The engine's ledger admin, searchable by the order an effect was for."""

    search_fields = (
        *SideEffectAdmin.search_fields,
        "project__business_name",
        "project__contact_email",
        "project__slug",
    )


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
