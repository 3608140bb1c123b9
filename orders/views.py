"""The customer's live status page: /status/<token>/ and its JSON feed."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from orders.models import Project
from orders.selectors import project_status_view


def _project(token: str) -> Project:
    project = Project.objects.filter(status_token=token).first()
    if project is None:
        raise Http404("No such order")
    return project


@require_safe
def status_page(request: HttpRequest, token: str) -> HttpResponse:
    project = _project(token)
    context: dict[str, Any] = {"project": project, "view": project_status_view(project), "token": token}
    response = render(request, "orders/status.html", context)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"  # the token is the page's only key
    return response


@require_safe
def status_feed(request: HttpRequest, token: str) -> JsonResponse:
    response = JsonResponse(project_status_view(_project(token)))
    response["Cache-Control"] = "no-store"
    return response
