"""The admin site as the back office: branded, "Needs attention" as its home, apps in job order."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from metrics.attention import Attention, needs_attention
from orchestration import clock

# Apps, then models, in the order of the job: the order, its run, the money, what the agents
# did, the figures; the accounts last. Anything not listed follows, alphabetically.
APP_ORDER = ("orders", "orchestration", "gateway", "agents", "metrics", "authtoken", "auth")
MODEL_ORDER = {
    "orders": ("Project",),
    "orchestration": ("WorkflowRun", "Task", "AgentRun", "OperatorAction"),
    "gateway": ("WebhookEvent",),
    "metrics": ("ErrorGroup", "Rollup", "AlertNotice"),
}
APP_NAMES = {
    "orders": "Orders",
    "orchestration": "Workflow engine",
    "gateway": "Payments and callbacks",
    "agents": "What the agents did",
    "metrics": "Errors and metrics",
}


# Each "Needs attention" list shows rows of one model (orders, payment events, tasks): a staff
# member sees a list only with the permission to view that model, as the admin's own pages do.
ATTENTION_PERMS = {
    "failed": "orders.view_project",
    "late": "orders.view_project",
    "abandoned": "orders.view_project",
    "refused_payments": "gateway.view_webhookevent",
    "dead_tasks": "orchestration.view_task",
}


def visible_to(user: Any, attention: Attention) -> Attention:
    """The lists of `attention` this user may see (the others emptied)."""
    return dataclasses.replace(
        attention, **{name: [] for name, perm in ATTENTION_PERMS.items() if not user.has_perm(perm)}
    )


def _rank(order: tuple[str, ...], name: str) -> tuple[int, str]:
    return (order.index(name) if name in order else len(order), name)


class BackofficeAdminSite(admin.AdminSite):
    site_header = "Site factory back office"
    site_title = "Site factory"
    index_title = "Needs attention"
    index_template = "admin/backoffice_index.html"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        for app in apps:
            app["name"] = APP_NAMES.get(app["app_label"], app["name"])
            models_order = MODEL_ORDER.get(app["app_label"], ())
            app["models"].sort(key=lambda m: _rank(models_order, m["object_name"]))
        return sorted(apps, key=lambda a: _rank(APP_ORDER, a["app_label"]))

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        now = clock.now()
        attention = visible_to(request.user, needs_attention(now=now))
        context = {"attention": attention, "now": now, "attention_slo": settings.ORDER_SLO_SECONDS // 60}
        return super().index(request, {**(extra_context or {}), **context})
