"""The OpenAPI 3 schema and its docs page, open to anyone and working offline: Swagger UI
is served from our own static files (drf-spectacular-sidecar), no CDN.

The schema is built once per process (30-60 ms of introspection each time otherwise, on a
public route): it depends only on the code, the URLconf, the API version and the language,
so it is kept per (URLconf, version, language). The lock keeps two threads of one instance
(Vercel's Fluid compute serves several requests at once) from both building it.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.urls import get_urlconf
from django.utils import translation
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.response import Response

from gateway.permissions import Public
from gateway.throttling import PublicThrottle

_schemas: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
_building = threading.Lock()


def forget_schemas() -> None:
    """Drop the built schemas (tests that change the URLconf or the views)."""
    with _building:
        _schemas.clear()


class SchemaView(SpectacularAPIView):
    authentication_classes: list = []
    permission_classes = [Public]
    throttle_classes = [PublicThrottle]

    def _get_schema_response(self, request: Request) -> Response:
        version = self.api_version or request.version or self._get_version_parameter(request)
        urlconf = self.urlconf or get_urlconf() or settings.ROOT_URLCONF
        key = (str(urlconf), version, translation.get_language())
        schema = _schemas.get(key)
        if schema is None:
            with _building:
                schema = _schemas.get(key)
                if schema is None:
                    generator = self.generator_class(urlconf=self.urlconf, api_version=version, patterns=self.patterns)
                    # public=True: the same schema for every caller, so it can be shared.
                    schema = _schemas[key] = generator.get_schema(request=request, public=True)
        return Response(
            data=schema,
            headers={"Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'},
        )


class DocsView(SpectacularSwaggerView):
    authentication_classes: list = []
    permission_classes = [Public]
    throttle_classes = [PublicThrottle]
    url_name = "api-schema"
