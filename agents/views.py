"""Serves sites published by the local deploy provider at /sites/<slug>/ from storage."""

from __future__ import annotations

import mimetypes
import posixpath

from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from gateway.throttling import CustomerPageThrottle, throttle_page

# Published sites are public pages; they may be framed by nobody and sniffed by no browser.
SITE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=60"}


@require_safe
@throttle_page(CustomerPageThrottle)
def published_site(request: HttpRequest, slug: str, path: str = "") -> HttpResponse:
    normalised = posixpath.normpath("/" + path).lstrip("/")
    if normalised.startswith("..") or "\\" in path:
        raise Http404("No such file")
    if path == "" or path.endswith("/"):
        normalised = posixpath.join(normalised, "index.html") if normalised not in ("", ".") else "index.html"
    name = f"sites/{slug}/{normalised}"
    if not default_storage.exists(name) and default_storage.exists(f"{name}/index.html"):
        name = f"{name}/index.html"
    if not default_storage.exists(name):
        raise Http404("No such file")
    with default_storage.open(name, "rb") as fh:
        body = fh.read()
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in {"image/svg+xml", "application/xml"}:
        content_type += "; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    for header, value in SITE_HEADERS.items():
        response[header] = value
    return response
