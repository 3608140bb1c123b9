"""What every API view of the gateway shares: strict JSON in, JSON out, whatever the client accepts.

DRF's defaults would render a 400 through the browsable API for a client that
sends `Accept: text/html` (a browser), and ApiErrorMiddleware would then replace
that HTML with a generic error, losing the names of the bad fields. Our routes
speak JSON only, so the renderer is chosen without looking at `Accept`.
"""

from __future__ import annotations

from collections.abc import Sequence

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request

from gateway.parsers import StrictJSONParser


class JsonOnlyNegotiation(DefaultContentNegotiation):
    """Parsers are chosen by Content-Type as usual; the renderer is always the view's first."""

    def select_renderer(
        self, request: Request, renderers: Sequence[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = renderers[0]
        return renderer, renderer.media_type


class JsonApi:
    """Mix into every gateway API view, before DRF's view class."""

    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonOnlyNegotiation
