"""The OpenAPI 3 schema and its docs page, open to anyone and working offline: Swagger UI
is served from our own static files (drf-spectacular-sidecar), no CDN."""

from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from gateway.permissions import Public
from gateway.throttling import PublicThrottle


class SchemaView(SpectacularAPIView):
    authentication_classes: list = []
    permission_classes = [Public]
    throttle_classes = [PublicThrottle]


class DocsView(SpectacularSwaggerView):
    authentication_classes: list = []
    permission_classes = [Public]
    throttle_classes = [PublicThrottle]
    url_name = "api-schema"
