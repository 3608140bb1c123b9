"""Admin for errors, rollups and alert notices, the dashboard's place in the admin, and the pages of
the engine's runs and of orders with what metrics reads in them (timelines, causes in words)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.admin import ActPermissionMixin, ReadOnlyMixin, badge
from metrics import views
from metrics.admin_orders import ProjectWithDiagnosisAdmin
from metrics.causes import explain
from metrics.charts import timeline
from metrics.errors import error_group_set_status
from metrics.models import AlertNotice, ErrorGroup, GroupStatus, Rollup
from orchestration.admin import Plan, WorkflowRunAdmin, confirmed_act
from orchestration.exceptions import IllegalTransition
from orchestration.models import WorkflowRun
from orchestration.services import Actor
from orders.models import Project


@admin.register(ErrorGroup)
class ErrorGroupAdmin(ActPermissionMixin, ReadOnlyMixin, admin.ModelAdmin):
    """One failure, however often it happened: its cause in words, the orders it hit (to fix them
    one by one), and resolve or mute instead of delete. A resolved group that happens again, or
    a muted one whose message changes, reopens by itself (metrics.errors)."""

    list_display = ("error_type", "location", "status_badge", "count", "orders", "short_message", "last_seen")
    list_filter = ("status", "error_type", "last_seen")
    search_fields = ("error_type", "location", "message", "fingerprint")
    date_hierarchy = "last_seen"
    actions = ("resolve", "mute", "reopen")
    change_form_template = "admin/metrics/errorgroup/change_form.html"
    fields = (
        "status_badge",
        "cause",
        "affected_orders",
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

    GROUP_ACTS = (("resolve", "Resolve"), ("mute", "Mute"), ("reopen", "Reopen"))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> Any:
        group = self.get_object(request, object_id)
        may = self.has_act_permission(request)
        acts = [(name, label) for name, label in self.GROUP_ACTS if may and group is not None and _allowed(group, name)]
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "group_acts": acts})

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: ErrorGroup) -> SafeString:
        label = obj.get_status_display()
        if obj.status != GroupStatus.OPEN and obj.status_changed_by:
            label = f"{label} by {obj.status_changed_by}"
        return badge(obj.status, label)

    @admin.display(description="orders")
    def orders(self, obj: ErrorGroup) -> int:
        return len(obj.project_ids)

    @admin.display(description="cause")
    def cause(self, obj: ErrorGroup) -> SafeString:
        found = explain(error_type=obj.error_type, message=obj.message, action=obj.location)
        return format_html("<b>{}</b><br>{}<br><small>{}</small>", found.title, found.what_to_do, found.replay_text)

    @admin.display(description="affected orders")
    def affected_orders(self, obj: ErrorGroup) -> SafeString | str:
        projects = {str(p.pk): p for p in Project.objects.filter(pk__in=obj.project_ids)}
        rows = [projects[pid] for pid in obj.project_ids if pid in projects]
        if not rows:
            return "-"
        return format_html(
            '<table class="error-group-orders"><tbody>{}</tbody></table>',
            format_html_join(
                "",
                '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>',
                (
                    (
                        reverse("admin:orders_project_change", args=[p.pk]),
                        p.business_name,
                        p.contact_email,
                        badge(p.status),
                    )
                    for p in rows
                ),
            ),
        )

    def _set(self, request: HttpRequest, queryset: QuerySet, status: str, title: str) -> TemplateResponse | None:
        actor = Actor.of_user(request.user).label

        def plan(group: ErrorGroup) -> Plan:
            if not _allowed(group, status):
                return [], f"The group is already {group.status}."
            return [f"{group.status} -> {status}"], ""

        def act(group: ErrorGroup) -> str:
            if not _allowed(group, status):
                raise IllegalTransition(f"Error group {group.pk} is already {group.status}")
            error_group_set_status(group=group, status=status, actor_label=actor)
            return f"{title}: {group.error_type} at {group.location}"

        return confirmed_act(
            self, request, queryset, title=title, plan=plan, act=act, noun=None, column="what it will do"
        )

    @admin.action(description="Resolve (reopens by itself if it happens again)", permissions=["act"])
    def resolve(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._set(request, queryset, GroupStatus.RESOLVED, "Resolve")

    @admin.action(description="Mute (no staff mail until its message changes)", permissions=["act"])
    def mute(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._set(request, queryset, GroupStatus.MUTED, "Mute")

    @admin.action(description="Reopen", permissions=["act"])
    def reopen(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._set(request, queryset, GroupStatus.OPEN, "Reopen")

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
class RollupAdmin(ReadOnlyMixin, admin.ModelAdmin):
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

    @admin.display(description="error rate")
    def error_rate_pct(self, obj: Rollup) -> str:
        return f"{obj.error_rate:.2%}"

    def get_urls(self) -> list[URLPattern]:
        dashboard = path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="metrics_dashboard")
        return [dashboard, *super().get_urls()]

    def dashboard_view(self, request: HttpRequest) -> TemplateResponse:
        # The dashboard shows orders and customers: only to staff who may view the figures.
        if not self.has_view_permission(request):
            raise PermissionDenied
        return views.dashboard(request, extra_context=self.admin_site.each_context(request))


@admin.register(AlertNotice)
class AlertNoticeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("window_start", "alert_names", "emailed_at")
    date_hierarchy = "window_start"

    @admin.display(description="alerts")
    def alert_names(self, obj: AlertNotice) -> str:
        return ", ".join(a.get("name", "?") for a in obj.alerts)


def _allowed(group: ErrorGroup, status: str) -> bool:
    return group.status != status


class RunWithTimelineAdmin(WorkflowRunAdmin):
    """The engine's run page, with its attempts drawn on one time axis, the operator's acts marked
    on it, and each failure's cause in words (metrics.charts): the engine does not know causes."""

    timeline_fields = ("timeline_block",)
    readonly_fields = (*WorkflowRunAdmin.readonly_fields, "timeline_block")

    @admin.display(description="attempts")
    def timeline_block(self, obj: WorkflowRun) -> SafeString:
        return timeline(obj)


# The engine and orders registered their own (orchestration.admin and orders.admin are imported
# above, so they have run): metrics' pages take their place.
admin.site.unregister(WorkflowRun)
admin.site.register(WorkflowRun, RunWithTimelineAdmin)
admin.site.unregister(Project)
admin.site.register(Project, ProjectWithDiagnosisAdmin)
