"""GET /api/health through Django (config.wsgi answers the plain GET before the middleware):
no auth, no throttle; the check itself is gateway.health.health_check.

A Neon compute waking from zero makes the first call slower, never an error: the connection
is opened with the normal timeouts and no retry loop.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.health import health_check
from gateway.permissions import Public
from gateway.serializers import ErrorSerializer
from gateway.views.base import JsonApi

HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.CharField(),
        "database": serializers.CharField(),
        "database_ms": serializers.FloatField(),
        "database_age_ms": serializers.FloatField(),
        "version": serializers.CharField(),
        "commit": serializers.CharField(),
    },
)


class HealthView(JsonApi, APIView):
    authentication_classes: list = []
    permission_classes = [Public]
    throttle_classes: list = []

    @extend_schema(
        responses={200: HealthSerializer, 503: ErrorSerializer},
        auth=[],
        operation_id="health",
        summary="Is the service up?",
        description=(
            "For uptime checks: no credentials, answered in well under 100 ms. 200 when the database answers "
            "(with how long it took), 503 when it does not."
        ),
        examples=[
            OpenApiExample(
                "Up",
                response_only=True,
                value={
                    "status": "ok",
                    "database": "ok",
                    "database_ms": 1.8,
                    "database_age_ms": 0.0,
                    "version": "1",
                    "commit": "ecef8cd",
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        status, body = health_check()
        return Response(body, status=status, headers={"Cache-Control": "no-store"})
