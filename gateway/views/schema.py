"""The OpenAPI 3 schema and its docs page, open to anyone and working offline: Swagger UI
is served from our own static files (drf-spectacular-sidecar), no CDN.

The schema is built once per process (30-60 ms of introspection each time otherwise, on a
public route): it depends only on the code, the URLconf, the API version and the language,
so it is kept per (URLconf, version, language). The lock keeps two threads of one instance
(Vercel's Fluid compute serves several requests at once) from both building it.

Only supported values are keys: `?lang=` must be a language the product speaks and `?version=`
the API's version (anything else is a 400), and the cache holds at most SCHEMA_CACHE_SIZE
schemas. Otherwise every made-up `?lang=` would cost a build (about a second) and stay in
memory for good: a public route that any client could use to fill the heap.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.http.response import HttpResponseBase
from django.urls import get_urlconf
from django.utils import translation
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from core.throttling import PublicThrottle
from gateway.exceptions import error_response
from gateway.permissions import Public

logger = logging.getLogger("gateway")
# The languages the product writes in (orders.brief.LANGUAGES) and the API's versions.
SCHEMA_LANGUAGES = ("en", "fr")
SCHEMA_CACHE_SIZE = 8
_schemas: OrderedDict[tuple[str, str | None, str | None], dict[str, Any]] = OrderedDict()
_building = threading.Lock()


def schema_versions() -> tuple[str, ...]:
    """Versions `?version=` may name: DRF's ALLOWED_VERSIONS when set, else the one in SPECTACULAR_SETTINGS."""
    allowed = api_settings.ALLOWED_VERSIONS
    if allowed:
        return tuple(str(v) for v in allowed)
    return (str(settings.SPECTACULAR_SETTINGS.get("VERSION") or "1"),)


def _schema_parameter_errors(request: Request) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    lang = request.query_params.get("lang")
    if lang is not None and lang not in SCHEMA_LANGUAGES:
        errors["lang"] = [f"Choose one of {', '.join(SCHEMA_LANGUAGES)}."]
    version = request.query_params.get("version")
    if version is not None and version not in schema_versions():
        errors["version"] = [f"Choose one of {', '.join(schema_versions())}."]
    return errors


def forget_schemas() -> None:
    """Drop the built schemas (tests that change the URLconf or the views)."""
    with _building:
        _schemas.clear()


class SchemaView(SpectacularAPIView):
    authentication_classes: list = []
    permission_classes = [Public]
    throttle_classes = [PublicThrottle]

    @extend_schema(**SCHEMA_KWARGS)  # what drf-spectacular's own get() declares (describes or excludes the view)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Checked before drf-spectacular activates whatever `?lang=` says. A JSON response of its own: the
        # view's renderers are OpenAPI's, and the error body is the gateway's one JSON shape.
        errors = _schema_parameter_errors(request)
        if errors:
            logger.info("schema parameters refused", extra={"action": "api_error", "status": 400, "code": "invalid"})
            return error_response(400, "invalid", f"Invalid fields: {', '.join(sorted(errors))}.", errors)
        return super().get(request, *args, **kwargs)

    def _get_schema_response(self, request: Request) -> Response:
        version = self.api_version or request.version or self._get_version_parameter(request)
        urlconf = self.urlconf or get_urlconf() or settings.ROOT_URLCONF
        language = translation.get_language()
        key = (str(urlconf), version, language if language in SCHEMA_LANGUAGES else settings.LANGUAGE_CODE)
        schema = _schemas.get(key)
        if schema is None:
            with _building:
                schema = _schemas.get(key)
                if schema is None:
                    generator = self.generator_class(urlconf=self.urlconf, api_version=version, patterns=self.patterns)
                    # public=True: the same schema for every caller, so it can be shared.
                    schema = _schemas[key] = generator.get_schema(request=request, public=True)
                    while len(_schemas) > SCHEMA_CACHE_SIZE:
                        _schemas.popitem(last=False)  # the oldest: a bounded cache, whatever the keys
        return Response(
            data=schema,
            headers={"Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'},
        )


class DocsView(SpectacularSwaggerView):
    authentication_classes: list = []
    permission_classes = [Public]
    throttle_classes = [PublicThrottle]
    url_name = "api-schema"
