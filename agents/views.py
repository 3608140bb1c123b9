"""Serves sites published by the local deploy provider at /sites/<slug>/ from storage."""

from __future__ import annotations

import math
import mimetypes
import posixpath
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from agents.contact import ContactInvalid, allowed_origins, contact_message_receive, site_project
from agents.site_ui import UI
from core.throttling import ClientRateThrottle, CustomerPageThrottle, throttle_page

# Published sites are public pages; they may be framed by nobody and sniffed by no browser.
SITE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=60"}


def _read(name: str) -> bytes | None:
    """The file's bytes, or None when there is no *file* by that name: a directory (FileSystemStorage
    says it "exists") or a name that vanished between the check and the read is a 404, not a 500."""
    if not default_storage.exists(name):
        return None
    try:
        with default_storage.open(name, "rb") as fh:
            return fh.read()
    except (IsADirectoryError, NotADirectoryError, FileNotFoundError):
        return None


@require_safe
@throttle_page(CustomerPageThrottle)
def published_site(request: HttpRequest, slug: str, path: str = "") -> HttpResponse:
    segments = path.split("/")
    # `..` and `.` segments are refused, not resolved: /sites/a/../b/ must never reach site b's files.
    if "\\" in path or "\x00" in path or any(segment in ("..", ".") for segment in segments):
        raise Http404("No such file")
    normalised = posixpath.normpath("/" + path).lstrip("/")
    if path == "" or path.endswith("/"):
        normalised = posixpath.join(normalised, "index.html") if normalised not in ("", ".") else "index.html"
    name = f"sites/{slug}/{normalised}"
    body = _read(name)
    if body is None and not name.endswith("/index.html"):
        name = f"{name}/index.html"  # /sites/<slug>/about serves about/index.html
        body = _read(name)
    if body is None:
        raise Http404("No such file")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in {"image/svg+xml", "application/xml"}:
        content_type += "; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    for header, value in SITE_HEADERS.items():
        response[header] = value
    return response


class ContactFormThrottle(ClientRateThrottle):
    scope = "contact"  # a published site's contact form: a few messages per visitor per hour


@csrf_exempt  # a public form on a static site (often another origin): no session, so nothing to forge
@require_POST
def site_contact(request: HttpRequest, slug: str) -> HttpResponse:
    """POST /sites/<slug>/contact: JSON for the page's script (Accept: application/json), a small page otherwise."""
    project = site_project(slug)
    wants_json = "application/json" in request.headers.get("Accept", "")
    if project is None:
        raise Http404("No such site")
    origin = request.headers.get("Origin")
    allowed = allowed_origins(project)
    cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin in allowed else {"Vary": "Origin"}
    ui = UI[project.language]
    if origin and origin != "null" and origin not in allowed:
        return _contact_answer(request, project, wants_json, 403, "forbidden_origin", ui["form_failed"], cors)
    throttle = ContactFormThrottle()
    if not throttle.allow_request(request, None):
        response = _contact_answer(request, project, wants_json, 429, "throttled", ui["form_failed"], cors)
        response["Retry-After"] = str(max(1, math.ceil(throttle.wait() or 1)))
        return response
    try:
        contact_message_receive(project=project, data=request.POST, page=request.POST.get("page", ""))
    except ContactInvalid as exc:
        return _contact_answer(request, project, wants_json, 400, "invalid", str(exc), cors, errors=exc.errors)
    return _contact_answer(request, project, wants_json, 200, "sent", ui["form_sent"], cors)


def _contact_answer(
    request: HttpRequest,
    project: Any,
    wants_json: bool,
    status: int,
    code: str,
    text: str,
    headers: dict[str, str],
    errors: dict[str, list[str]] | None = None,
) -> HttpResponse:
    ui = UI[project.language]
    text = text.format(email=project.contact_email)
    if wants_json:
        body: dict[str, Any] = (
            {"ok": True, "message": text}
            if status == 200
            else {"error": {"code": code, "message": text, "detail": errors or None}}
        )
        response: HttpResponse = JsonResponse(body, status=status)
    else:
        site_root = project.site_url or f"{settings.SITE_URL}/sites/{project.slug}/"
        site_root = site_root if site_root.endswith("/") else f"{site_root}/"
        page = posixpath.basename(str(request.POST.get("page") or "")) if status != 403 else ""
        response = render(
            request,
            "sites/contact_result.html",
            {
                "lang": project.language,
                "project": project,
                "heading": ui["form_heading"],
                "text": text,
                "errors": errors,
                "site_root": site_root,
                "back_url": f"{site_root}{page if page.endswith('.html') else ''}",
                "back_label": ui["back_to_site"],
            },
            status=status,
        )
    for header, value in headers.items():
        response[header] = value
    response["Cache-Control"] = "no-store"
    return response
