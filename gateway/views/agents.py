"""The agents over HTTP (HTTP dispatch: the same semantics as inline): their routes, called by the engine,
and their callback route.

`POST /api/<agent>/<action>` (signed by the engine): runs the action within the
route's budget and answers 200 with the report, or, when the request says
`"respond": "async"`, answers 202 at once and sends the report to the callback
route later (with retries). The async form needs a host that keeps running
after a response (gunicorn, a VM); on Vercel the engine asks for the sync form.

`POST /api/orchestration/webhooks` (signed by the agent): applies a report
through the engine, fenced by the lease token it carries back (or its attempt
number), deduplicated on webhook-id.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.db import connections
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.throttling import WebhookThrottle
from gateway.exceptions import MalformedBody, UnknownObject
from gateway.functions import budget_for
from gateway.parsers import json_object
from gateway.permissions import SignedByEngine
from gateway.serializers import AgentReportSerializer
from gateway.services import agent_report_receive, signed_request_accept
from gateway.views.base import JsonApi
from orchestration import dispatch
from orchestration.budget import Budget
from orchestration.exceptions import UnknownAction
from orchestration.registry import get_action

# The agents the engine can reach over HTTP; `engine` serves the built-in generic actions.
AGENTS = ("core-platform", "design-ia", "automation", "ads-management", "engine")
AGENT_ROUTE = r"^api/(?P<agent>" + "|".join(AGENTS) + r")/(?P<name>[a-z][a-z0-9-]{0,60})$"

SIGNATURE_HEADERS = [
    OpenApiParameter(name, str, OpenApiParameter.HEADER, required=True)
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
]


class DispatchRequestSerializer(serializers.Serializer):
    taskId = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    attempt = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    action = serializers.CharField(max_length=100)
    runId = serializers.UUIDField(required=False, allow_null=True, default=None)
    projectId = serializers.CharField(required=False, allow_null=True, default=None, max_length=64)
    step = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    input = serializers.DictField(required=False, default=dict)
    inputs = serializers.DictField(required=False, default=dict)
    cursor = serializers.JSONField(required=False, allow_null=True, default=None)
    idempotencyKey = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)
    deadlineSeconds = serializers.FloatField(min_value=0.1, max_value=3600)
    respond = serializers.ChoiceField(choices=["sync", "async"], default="sync")
    leaseToken = serializers.UUIDField(required=False, allow_null=True, default=None)  # echoed in every report


ReportSerializer = inline_serializer(
    "AgentReport",
    {
        "type": serializers.CharField(),
        "agentId": serializers.CharField(),
        "projectId": serializers.CharField(allow_null=True),
        "taskId": serializers.IntegerField(),
        "attempt": serializers.IntegerField(),
        "data": serializers.DictField(),
        "leaseToken": serializers.UUIDField(required=False),
    },
)


class AgentActionView(JsonApi, APIView):
    authentication_classes: list = []
    permission_classes = [SignedByEngine]
    throttle_classes: list = []  # only the engine can call it, and it paces itself

    @extend_schema(
        request=DispatchRequestSerializer,
        responses={200: ReportSerializer, 202: None},
        parameters=SIGNATURE_HEADERS,
        auth=[],
        operation_id="agent_action_run",
        summary="Run one agent action (the engine's HTTP dispatch)",
        description=(
            "Signed by the engine (Standard Webhooks headers). Runs one attempt of a task within the route's "
            'time limit and answers 200 with its report, or, when the request asks `"respond": "async"`, '
            "202 at once and posts the report to `/api/orchestration/webhooks` later."
        ),
    )
    def post(self, request: Request, agent: str, name: str) -> Response:
        serializer = DispatchRequestSerializer(data=json_object(request.body))
        serializer.is_valid(raise_exception=True)
        body = {**serializer.validated_data}
        body["runId"] = str(body["runId"]) if body["runId"] else None
        body["leaseToken"] = str(body["leaseToken"]) if body["leaseToken"] else None
        if body["action"] != f"{agent}.{name}":
            raise MalformedBody(f"This route runs {agent}.{name}, not {body['action']!r}.", code="wrong_route")
        try:
            get_action(body["action"])
        except UnknownAction as exc:
            raise UnknownObject(str(exc), code="unknown_action") from exc
        if not signed_request_accept(route=request.path_info, webhook_id=request.webhook_id):
            return Response(duplicate_receipt(request.webhook_id))
        budget = budget_for(request.path)
        if body["respond"] == "async":
            threading.Thread(target=_run_and_call_back, args=(body, budget), name="agent-callback", daemon=True).start()
            return Response({"accepted": True, "taskId": body["taskId"]}, status=status.HTTP_202_ACCEPTED)
        return Response(dispatch.run_dispatched(body, budget=budget).as_body())


def duplicate_receipt(webhook_id: str) -> dict[str, Any]:
    """What a replayed signed request gets: a 2xx, so a sender's retry stops, and nothing run."""
    return {"received": True, "duplicate": True, "ran": False, "webhookId": webhook_id}


def _run_and_call_back(body: dict[str, Any], budget: Budget) -> None:
    try:
        report = dispatch.run_dispatched(body, budget=budget)
        dispatch.call_back(report, settings.AGENTS_BASE_URL + dispatch.CALLBACK_PATH)
    finally:
        connections.close_all()  # this thread's connections only: they are per thread


class AgentCallbackView(JsonApi, APIView):
    authentication_classes: list = []
    permission_classes = [SignedByEngine]
    throttle_classes = [WebhookThrottle]

    @extend_schema(
        request=AgentReportSerializer,
        responses={
            200: inline_serializer(
                "CallbackReceipt",
                {
                    "received": serializers.BooleanField(),
                    "duplicate": serializers.BooleanField(),
                    "applied": serializers.BooleanField(),
                    "status": serializers.CharField(),
                    "outcome": serializers.CharField(),
                },
            )
        },
        parameters=SIGNATURE_HEADERS,
        auth=[],
        operation_id="agent_callback",
        summary="An agent reports on its task",
        description=(
            "Signed by the agent (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`, "
            "5 minutes tolerance; two keys accepted during a rotation). `type` is task_started, task_progress, "
            "task_completed or task_failed; `attempt` fences it: a report from an attempt that no longer holds "
            "the task is recorded and changes nothing (`applied: false`). Deduplicated on `webhook-id`."
        ),
        examples=[
            OpenApiExample(
                "A step completed",
                request_only=True,
                value={
                    "type": "task_completed",
                    "agentId": "design-ia",
                    "projectId": "8b0f7d2c-7d1e-4a8e-9d0c-0f5a3c1b2e4d",
                    "taskId": 1042,
                    "attempt": 1,
                    "data": {"output": {"pages": 4}},
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = AgentReportSerializer(data=json_object(request.body))
        serializer.is_valid(raise_exception=True)
        body = {**serializer.validated_data}
        body["projectId"] = str(body["projectId"]) if body["projectId"] else None
        body["leaseToken"] = str(body["leaseToken"]) if body["leaseToken"] else None
        row, duplicate = agent_report_receive(webhook_id=request.webhook_id, body=body)
        return Response(
            {
                "received": True,
                "duplicate": duplicate,
                "applied": row.status == "processed",
                "status": row.status,
                "outcome": row.outcome,
            }
        )
