"""GET /api/health: is this deployment up and can it reach its database? No auth, no throttle.

One `SELECT 1` and nothing else, so it stays fast when warm; a Neon compute
waking from zero makes the first call slower, never an error, because the
connection is opened with the normal timeouts and no retry loop.
"""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path

from django.db import DatabaseError, connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.exceptions import error_body
from gateway.permissions import Public
from gateway.serializers import ErrorSerializer
from gateway.views.base import JsonApi


def _version() -> str:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        with pyproject.open("rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


VERSION = _version()
# Set by Vercel on every deployment; empty elsewhere.
COMMIT = os.environ.get("VERCEL_GIT_COMMIT_SHA", "")[:12]

HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.CharField(),
        "database": serializers.CharField(),
        "database_ms": serializers.FloatField(),
        "version": serializers.CharField(),
        "commit": serializers.CharField(),
    },
)


class HealthView(JsonApi, APIView):
    authentication_classes: list = []
    permission_classes = [Public]
    throttle_classes: list = []

    @extend_schema(responses={200: HealthSerializer, 503: ErrorSerializer}, auth=[])
    def get(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except DatabaseError as exc:
            body = error_body("database_unavailable", "The database did not answer.", {"error": type(exc).__name__})
            return Response(body, status=503, headers={"Cache-Control": "no-store"})
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        return Response(
            {"status": "ok", "database": "ok", "database_ms": elapsed_ms, "version": VERSION, "commit": COMMIT},
            headers={"Cache-Control": "no-store"},
        )
