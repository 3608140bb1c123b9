"""The customer's live status page: /status/<token>/ and its JSON feed."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from gateway.throttling import CustomerPageThrottle, throttle_page
from orders.models import Project
from orders.selectors import project_status_view

# What a customer reads for each step's state: the engine's words (queued, dead) mean nothing to them.
STATE_LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "waiting": "À venir",
        "queued": "À venir",
        "running": "En cours",
        "succeeded": "Terminé",
        "dead": "En échec",
        "cancelled": "Annulé",
    },
    "en": {
        "waiting": "Up next",
        "queued": "Up next",
        "running": "In progress",
        "succeeded": "Done",
        "dead": "Failed",
        "cancelled": "Cancelled",
    },
}


def _project(token: str) -> Project:
    project = Project.objects.filter(status_token=token).first()
    if project is None:
        raise Http404("No such order")
    return project


def status_view(project: Project) -> dict[str, Any]:
    """The status page's data: the selector's view plus each step's state in the customer's language."""
    view = project_status_view(project)
    labels = STATE_LABELS.get(project.language, STATE_LABELS["en"])
    for step in view["steps"]:
        step["state_label"] = labels.get(step["status"], step["status"])
    return view


def format_elapsed(seconds: float | None) -> str:
    """'4 min 07 s', as the page's script writes it; an en dash before payment."""
    if seconds is None:
        return "\N{EN DASH}"
    whole = max(0, round(seconds))
    return f"{whole // 60} min {whole % 60:02d} s"


@require_safe
@throttle_page(CustomerPageThrottle)
def status_page(request: HttpRequest, token: str) -> HttpResponse:
    project = _project(token)
    view = status_view(project)
    context: dict[str, Any] = {
        "project": project,
        "view": view,
        "token": token,
        # Rendered on the server too, so the page says something true before (or without) its script.
        "elapsed": format_elapsed(view["elapsed_seconds"]),
    }
    response = render(request, "orders/status.html", context)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"  # the token is the page's only key
    return response


@require_safe
@throttle_page(CustomerPageThrottle)
def status_feed(request: HttpRequest, token: str) -> JsonResponse:
    response = JsonResponse(status_view(_project(token)))
    response["Cache-Control"] = "no-store"
    return response
