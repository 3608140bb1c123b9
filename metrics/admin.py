"""Admin for errors, rollups and alert notices, and the dashboard's place in the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from metrics import views
from metrics.models import AlertNotice, ErrorGroup, Rollup


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the system: staff look, never edit."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ErrorGroup)
class ErrorGroupAdmin(ReadOnlyAdmin):
    list_display = ("error_type", "location", "count", "short_message", "first_seen", "last_seen")
    list_filter = ("error_type", "last_seen")
    search_fields = ("error_type", "location", "message", "fingerprint")
    date_hierarchy = "last_seen"
    fields = (
        "error_type",
        "location",
        "count",
        "first_seen",
        "last_seen",
        "message",
        "traceback_block",
        "links",
        "fingerprint",
    )
    readonly_fields = fields

    @admin.display(description="message")
    def short_message(self, obj: ErrorGroup) -> str:
        return obj.message if len(obj.message) <= 120 else obj.message[:119] + "…"

    @admin.display(description="traceback (latest)")
    def traceback_block(self, obj: ErrorGroup) -> str:
        return format_html('<pre class="json">{}</pre>', obj.traceback or "-")

    @admin.display(description="latest occurrence")
    def links(self, obj: ErrorGroup) -> str:
        parts = []
        if obj.last_project_id:
            url = reverse("admin:orders_project_change", args=[obj.last_project_id])
            parts.append(format_html('<a href="{}">project</a>', url))
        if obj.last_run_id:
            url = reverse("admin:orchestration_workflowrun_change", args=[obj.last_run_id])
            parts.append(format_html('<a href="{}">run timeline</a>', url))
        if obj.last_task_id:
            url = reverse("admin:orchestration_task_change", args=[obj.last_task_id])
            parts.append(format_html('<a href="{}">task #{}</a>', url, obj.last_task_id))
        return format_html(" · ".join(["{}"] * len(parts)), *parts) if parts else "-"


@admin.register(Rollup)
class RollupAdmin(ReadOnlyAdmin):
    list_display = (
        "window_start",
        "attempts",
        "error_rate_pct",
        "queue_depth",
        "oldest_waiting_seconds",
        "orders_delivered",
        "orders_within_slo",
        "orders_late",
        "db_connections",
    )
    date_hierarchy = "window_start"
    change_list_template = "admin/metrics/rollup/change_list.html"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="error rate")
    def error_rate_pct(self, obj: Rollup) -> str:
        return f"{obj.error_rate:.2%}"

    def get_urls(self) -> list[URLPattern]:
        dashboard = path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="metrics_dashboard")
        return [dashboard, *super().get_urls()]

    def dashboard_view(self, request: HttpRequest) -> TemplateResponse:
        return views.dashboard(request, extra_context=self.admin_site.each_context(request))


@admin.register(AlertNotice)
class AlertNoticeAdmin(ReadOnlyAdmin):
    list_display = ("window_start", "alert_names", "emailed_at")
    date_hierarchy = "window_start"

    @admin.display(description="alerts")
    def alert_names(self, obj: AlertNotice) -> str:
        return ", ".join(a.get("name", "?") for a in obj.alerts)
