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
