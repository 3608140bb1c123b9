"""Orders in the admin, written for the staff's first question: where is order X?

The list shows status, steps done, time against the 25-minute SLO (late ones in red)
and the links a customer conversation needs. A project's page says what went wrong and
embeds its latest run's timeline: metrics' reading, added by its subclass of this page
(metrics/admin_orders.py), so orders imports nothing of metrics. The campaign CSV is
served from the campaign step's output.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db import models
from django.db.models import F, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.admin import admin_link, badge
from orchestration import clock
from orchestration.admin import may_act_on_runs, run_acts, run_label
from orchestration.models import TaskStatus
from orders.admin_journey import RefundInline, RevisionInline, refund_orders
from orders.brief import Brief, brief_data, validate_brief
from orders.business_details import DETAIL_KEYS
from orders.models import Project, ProjectStatus
from orders.selectors import project_latest_run, project_progress

UNFINISHED = (ProjectStatus.PAID, ProjectStatus.IN_PROGRESS)


def campaign_csv(project: Project) -> str | None:
    """The CSV text the ads agent left in its step's output, if the latest run has one."""
    run = project_latest_run(project)
    if run is None:
        return None
    task = run.tasks.filter(step="campaign", status=TaskStatus.SUCCEEDED).first()
    output = task.output if task is not None else None
    csv = output.get("csv") if isinstance(output, dict) else None
    return csv if isinstance(csv, str) and csv else None


class LateFilter(admin.SimpleListFilter):
    title = f"against the {settings.ORDER_SLO_SECONDS // 60}-minute promise"
    parameter_name = "slo"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("late", "late now (not delivered)"), ("delivered_late", "delivered late"), ("on_time", "on time")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        slo = timedelta(seconds=settings.ORDER_SLO_SECONDS)
        late_now = Q(status__in=UNFINISHED, paid_at__lt=clock.now() - slo)
        delivered_late = Q(delivered_at__isnull=False, delivered_at__gt=F("paid_at") + slo)
        if self.value() == "late":
            return queryset.filter(late_now)
        if self.value() == "delivered_late":
            return queryset.filter(delivered_late)
        if self.value() == "on_time":
            return queryset.filter(paid_at__isnull=False).exclude(late_now | delivered_late)
        return queryset


def brief_fields() -> tuple[str, ...]:
    """The brief's own fields (orders.brief.Brief) that the order stores: new brief fields show
    up on the order's page without an admin change."""
    stored = {f.name for f in Project._meta.get_fields()}
    return tuple(f.name for f in dataclasses.fields(Brief) if f.name in stored)


class PageListField(forms.CharField):
    """The brief's pages, edited as text, one page title a line; stored as the JSON list."""

    widget = forms.Textarea(attrs={"rows": 6, "cols": 40})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list | tuple):
            return [str(v).strip() for v in value if str(v).strip()]
        text = super().to_python(value)
        return [line.strip() for line in text.splitlines() if line.strip()]

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.to_python(initial or []) != self.to_python(data)


class ProjectForm(forms.ModelForm):
    """The brief, checked by the same validator as the API and the setup step: what staff save
    is what the workflow accepts, so a replay after an edit cannot fail on the brief again."""

    pages = PageListField(required=False, help_text="One page title a line.")

    class Meta:
        model = Project
        fields = brief_fields()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        data = brief_data(self.instance)
        data.update({name: cleaned[name] for name in brief_fields() if name in cleaned and name != "details"})
        if "details" in cleaned:
            # The brief reads the details at its top level (brief_data): the edited ones replace the stored ones.
            for key in DETAIL_KEYS:
                data.pop(key, None)
            edited = cleaned["details"] if cleaned["details"] is not None else {}  # left empty: no details
            if isinstance(edited, dict):
                unknown = sorted(set(edited) - set(DETAIL_KEYS))
                if unknown:
                    self.add_error("details", f"Unknown keys {', '.join(unknown)}; use {', '.join(DETAIL_KEYS)}.")
                data.update({key: value for key, value in edited.items() if key in DETAIL_KEYS})
            else:
                self.add_error("details", "Give the business details as a JSON object.")
        for field, messages_ in validate_brief(data).items():
            if field in self.fields:
                if field not in self.errors:
                    self.add_error(field, " ".join(messages_))
            elif "details" in self.fields:
                # Business details (phone, legal.company_name...) live in the one `details` JSON field: their
                # errors are shown there, named, rather than dropped (the setup step would refuse the brief).
                self.add_error("details", f"{field}: {' '.join(messages_)}")
            else:
                self.add_error(None, f"{field}: {' '.join(messages_)}")
        return cleaned


def flatten(fields: Any) -> list[str]:
    return [name for row in fields for name in (row if isinstance(row, tuple | list) else (row,))]


# Set by Stripe's events and the workflow, shown read-only in their own fieldset.
PAYMENT_FIELDS = ("checkout_session_id", "amount_cents", "currency", "refunded_cents", "paid_at", "delivered_at")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    """One page per order: where it is, what went wrong in words, its brief, and the acts
    (replay, cancel) that return here. Status, slug and site URL change only through acts and
    the workflow, never by hand."""

    form = ProjectForm
    list_display = ("business_name", "contact_email", "status_badge", "progress", "elapsed", "links", "created")
    list_filter = ("status", LateFilter, "language", "sector")
    search_fields = ("business_name", "contact_email", "slug", "city", "checkout_session_id")
    date_hierarchy = "created_at"
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = [refund_orders]  # the customer journey's (orders/admin_journey.py)
    inlines = [RefundInline, RevisionInline]
    change_form_template = "admin/orders/project/change_form.html"
    readonly_fields = (
        "status_badge",
        "progress",
        "elapsed",
        "links",
        "runs_list",
        "status",
        "slug",
        "site_url",
        "status_token",
        *PAYMENT_FIELDS,
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("owner",)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        sets: list = [(None, {"fields": (("status_badge", "progress", "elapsed"), "links", "runs_list")})]
        sets += self.diagnosis_fieldsets(obj)
        sets += [
            ("Brief", {"fields": brief_fields()}),
            ("Delivery (set by the workflow)", {"fields": ("status", "slug", "site_url")}),
            (
                "Payment",
                {"fields": PAYMENT_FIELDS, "classes": ("collapse",)},
            ),
            ("Record", {"fields": ("status_token", "created_at", "updated_at"), "classes": ("collapse",)}),
            # Who reads it over the API; staff hand rows migrated without one to their integration.
            ("Owner", {"fields": ("owner",)}),
        ]
        return sets

    def diagnosis_fieldsets(self, obj: Any) -> list:
        """What the apps built on orders read of the order, shown above its brief: none here. metrics
        says what went wrong and draws the latest run (metrics/admin_orders.py)."""
        return []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [name for _, opts in self.get_fieldsets(request, obj) for name in flatten(opts["fields"])]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> Any:
        project = self.get_object(request, object_id)
        run = project_latest_run(project) if project is not None else None
        acts = run_acts(run) if run is not None and may_act_on_runs(request) else []
        extra = {**(extra_context or {}), "run_actions": acts, "act_run": run}
        return super().change_view(request, object_id, form_url, extra)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders come from the intake API and Stripe, never typed in

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # runs and payments point at it

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        """Also find an order by its id, or by the id of one of its runs (pasted from an email)."""
        results, duplicates = super().get_search_results(request, queryset, search_term)
        try:
            wanted = uuid.UUID(search_term.strip())
        except ValueError:
            return results, duplicates
        return results | queryset.filter(Q(id=wanted) | Q(runs__id=wanted)), True

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Project) -> SafeString:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Project) -> str:
        # Short, so the list fits beside the filters without a horizontal scroll.
        return f"{obj.created_at:%d %b %H:%M}"

    @admin.display(description="steps done")
    def progress(self, obj: Project) -> str:
        done = project_progress(obj)
        return f"{done['done']}/{done['total']}" if done["total"] else "-"

    @admin.display(description="elapsed / SLO")
    def elapsed(self, obj: Project) -> SafeString | str:
        """Minutes since payment against the SLO. Late (red) means still under way and past it:
        a failed or cancelled order stopped its clock when its run ended, and is not "late"."""
        if obj.paid_at is None:
            return "-"
        slo_minutes = settings.ORDER_SLO_SECONDS // 60
        if obj.status in UNFINISHED:
            minutes = (clock.now() - obj.paid_at).total_seconds() / 60
            text = f"{minutes:.1f} / {slo_minutes} min"
            return (
                format_html('<span class="late">{} late</span>', text)
                if minutes * 60 > settings.ORDER_SLO_SECONDS
                else text
            )
        if obj.delivered_at is not None:
            minutes = (obj.delivered_at - obj.paid_at).total_seconds() / 60
            over = " (over the SLO)" if minutes * 60 > settings.ORDER_SLO_SECONDS else ""
            return f"{minutes:.1f} / {slo_minutes} min{over}"
        run = project_latest_run(obj)
        stopped = run.finished_at if run is not None and run.finished_at else obj.updated_at
        return f"{obj.get_status_display().lower()} after {(stopped - obj.paid_at).total_seconds() / 60:.1f} min"

    @admin.display(description="links")
    def links(self, obj: Project) -> SafeString:
        items = []
        if obj.site_url:
            items.append(("site", obj.site_url))
        items.append(("status page", reverse("status-page", args=[obj.status_token])))
        run = project_latest_run(obj)
        if run is not None:
            items.append(("timeline", reverse("admin:orchestration_workflowrun_change", args=[run.pk])))
        if campaign_csv(obj) is not None:
            items.append(("campaign CSV", reverse("admin:orders_project_campaign_csv", args=[obj.pk])))
        return format_html_join(" · ", '<a href="{1}">{0}</a>', items)

    @admin.display(description="runs")
    def runs_list(self, obj: Project) -> SafeString | str:
        runs = obj.runs.order_by("-created_at")
        return format_html_join(", ", "{} {}", ((admin_link(r, run_label(r)), badge(r.status)) for r in runs)) or "-"

    def get_urls(self) -> list[URLPattern]:
        csv = path(
            "<path:object_id>/campaign.csv",
            self.admin_site.admin_view(self.campaign_csv_view),
            name="orders_project_campaign_csv",
        )
        return [csv, *super().get_urls()]

    def campaign_csv_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        project = self.get_object(request, object_id)
        if project is None or not self.has_view_permission(request, project):
            raise Http404("No such project")
        csv = campaign_csv(project)
        if csv is None:
            raise Http404("This project has no campaign CSV yet")
        # A download hands customer data out of the back office: it goes in the order's history.
        self.log_change(request, project, f"Downloaded the campaign CSV ({len(csv.encode())} bytes)")
        response = HttpResponse(csv, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{project.slug or project.pk}-campaign.csv"'
        return response
