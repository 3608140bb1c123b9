"""The customer journey in the admin: refunds (with a confirmed "refund" action), revisions and the
customer-email ledger, beside each order. Kept apart from orders/admin.py, which only lists them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from core.admin import admin_link, badge
from orders.exceptions import RefundNotConfirmed, RefundRefused
from orders.models import CustomerEmail, Project, ProjectStatus, Refund, RefundStatus, Revision
from orders.refunds import refund_request


def refund_refusal(project: Project) -> str:
    """Why this order cannot be refunded now ('' when it can)."""
    if project.paid_at is None or project.amount_cents is None:
        return "never paid"
    if project.status == ProjectStatus.REFUNDED:
        return "already refunded"
    refund = Refund.objects.filter(project=project).first()
    if refund is not None and refund.status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED):
        return f"refund already {refund.get_status_display().lower()}"
    return ""


@admin.action(description="Refund the selected orders (Stripe)", permissions=["change"])
def refund_orders(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
    """Shows what it will refund, and refunds only once staff confirm; each refund records the staff user."""
    rows = [{"obj": p, "refusal": refund_refusal(p)} for p in queryset]
    if request.POST.get("confirm") != "yes":
        return TemplateResponse(
            request,
            "admin/orders/confirm_refund.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": "Refund orders",
                "opts": modeladmin.model._meta,
                "rows": rows,
                "accepted": sum(1 for r in rows if not r["refusal"]),
                "action": "refund_orders",
                "checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )
    label = f"staff:{request.user.get_username()}"
    reason = str(request.POST.get("reason", ""))[:500]
    for row in rows:
        project = row["obj"]
        if row["refusal"]:
            messages.warning(request, f"{project.reference} not refunded: {row['refusal']}.")
            continue
        try:
            refund = refund_request(
                project=project, source=Refund.Source.STAFF, user=request.user, label=label, reason=reason
            )
        except RefundNotConfirmed as exc:
            messages.warning(request, f"{project.reference}: {exc.message} Run the action again: same refund.")
            continue
        except RefundRefused as exc:
            messages.error(request, f"{project.reference}: {exc.message}")
            continue
        modeladmin.log_change(request, project, f"Refund requested ({refund.stripe_refund_id}, {refund.status})")
        messages.success(
            request,
            f"{project.reference}: refund {refund.stripe_refund_id} {refund.get_status_display().lower()}; the order "
            "becomes refunded when Stripe confirms it.",
        )
    return None


class RefundInline(admin.StackedInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "status",
        "source",
        "amount_cents",
        "currency",
        "stripe_refund_id",
        "requested_by",
        "requested_by_label",
        "reason",
        "tries",
        "last_error",
        "created_at",
        "confirmed_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RevisionInline(admin.TabularInline):
    model = Revision
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "number",
        "status",
        "feedback",
        "applied",
        "not_applied",
        "run_link",
        "created_at",
        "live_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="run")
    def run_link(self, obj: Revision) -> Any:
        return admin_link(obj.run, f"revision run {str(obj.run_id)[:8]}") if obj.run_id else "-"


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = (
        "project",
        "status_badge",
        "source",
        "amount_cents",
        "requested_by_label",
        "created_at",
        "confirmed_at",
    )
    list_filter = ("status", "source")
    search_fields = ("project__business_name", "project__contact_email", "stripe_refund_id")
    readonly_fields = [f.name for f in Refund._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # refunds come from the order's "refund" action, a cancel, or Stripe

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Refund) -> Any:
        return badge(obj.status, obj.get_status_display())


@admin.register(Revision)
class RevisionAdmin(admin.ModelAdmin):
    list_display = ("project", "number", "status_badge", "created_at", "live_at")
    list_filter = ("status",)
    search_fields = ("project__business_name", "feedback")
    readonly_fields = [f.name for f in Revision._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # revisions come from the customer's status page

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Revision) -> Any:
        return badge(obj.status, obj.get_status_display())


@admin.register(CustomerEmail)
class CustomerEmailAdmin(admin.ModelAdmin):
    list_display = ("kind", "project", "sent_at", "created_at")
    list_filter = ("kind",)
    search_fields = ("key", "project__business_name", "project__contact_email")
    readonly_fields = ("key", "project", "kind", "sent_at", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record that a customer was told: deleting it would send the email again
