"""Routes that run the engine: Vercel's crons and the engine's own execute call.

- `GET /api/orchestration/workflow` (cron, every 2 min, `Bearer $CRON_SECRET`,
  declared in the schema by gateway/authentication.py): one tick within the
  function's maxDuration. Safe to run concurrently and twice: claims are
  exclusive (SKIP LOCKED / SQLite's write lock) and recoveries are fenced.
- `GET /api/system/metrics` (cron every 5 min, or staff): the metrics rollup,
  idempotent per window; it also deletes the sites' contact-form messages past
  CONTACT_RETENTION_DAYS (what every site's privacy page promises), so the
  deployment needs no other cron for it.
- `POST /api/workflows/execute` (signed): runs ready work, of one workflow run
  when `runId` (or `projectId`) is given, within 300 s; kicks itself again if ready
  work remains. An unknown run or project is a 404 that runs nothing: it must not
  turn into a tick over everyone's work.

None of them ever answers 3xx: a redirect silently ends a Vercel cron run.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.contact import contact_messages_prune
from gateway.authentication import CronSecretAuthentication, GuardedTokenAuthentication
from gateway.exceptions import UnknownObject
from gateway.functions import budget_for
from gateway.parsers import json_object
from gateway.permissions import IsCron, IsCronOrStaff, SignedByEngine
from gateway.serializers import ErrorSerializer, ExecuteSerializer
from gateway.services import signed_request_accept
from gateway.views.agents import SIGNATURE_HEADERS, duplicate_receipt
from gateway.views.base import JsonApi
from metrics.rollups import rollup
from orchestration import clock, dispatch
from orchestration.execution import TickReport, tick
from orchestration.models import Task, TaskStatus, WorkflowRun

TickSerializer = inline_serializer("TickReport", {name: serializers.IntegerField() for name in TickReport().as_dict()})


class WorkflowTickView(JsonApi, APIView):
    authentication_classes = [CronSecretAuthentication]
    permission_classes = [IsCron]
    throttle_classes: list = []

    @extend_schema(
        responses={200: TickSerializer},
        operation_id="cron_workflow_tick",
        summary="The engine's cron tick (every 2 minutes)",
        description=(
            "Vercel's cron calls it with `Authorization: Bearer $CRON_SECRET`. One tick within the function's "
            "time limit: recovers expired leases, runs due retries and ready steps, repairs stalled runs. Safe "
            "to call twice or concurrently. Never answers a redirect (it would end a Vercel cron run)."
        ),
    )
    def get(self, request: Request) -> Response:
        report = tick(budget=budget_for(request.path))
        return Response(report.as_dict())


class MetricsRollupView(JsonApi, APIView):
    authentication_classes = [CronSecretAuthentication, GuardedTokenAuthentication, SessionAuthentication]
    permission_classes = [IsCronOrStaff]
    throttle_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer(
                "RollupDone",
                {
                    "window_start": serializers.DateTimeField(),
                    "window_end": serializers.DateTimeField(),
                    "attempts": serializers.IntegerField(),
                    "pruned_contact_messages": serializers.IntegerField(),
                },
            )
        },
        operation_id="cron_metrics_rollup",
        summary="Roll up the metrics (every 5 minutes)",
        description=(
            "Computes the current 5-minute window's figures (attempts, errors, durations, queue, late orders), "
            "checks the alert thresholds and prunes old raw rows and contact-form messages past their retention "
            "(CONTACT_RETENTION_DAYS). Idempotent per window. Vercel's cron calls it "
            "with `Authorization: Bearer $CRON_SECRET`; staff may call it too."
        ),
    )
    def get(self, request: Request) -> Response:
        row = rollup()
        pruned = contact_messages_prune(older_than_days=settings.CONTACT_RETENTION_DAYS)
        return Response(
            {
                "window_start": row.window_start,
                "window_end": row.window_end,
                "attempts": row.attempts,
                "pruned_contact_messages": pruned,
            }
        )


class ExecuteView(JsonApi, APIView):
    authentication_classes: list = []
    permission_classes = [SignedByEngine]
    throttle_classes: list = []

    @extend_schema(
        request=ExecuteSerializer,
        responses={200: TickSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
        parameters=SIGNATURE_HEADERS,
        auth=[],
        operation_id="workflows_execute",
        summary="Run ready work (the engine calling itself)",
        description=(
            "Signed by the engine (Standard Webhooks headers, `WEBHOOK_SECRET`). Runs the ready steps of one "
            "workflow run (`runId`, or the latest run of `projectId`) within 300 s, and calls itself again when "
            "work is left. An unknown run or project is a 404 that runs nothing."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = ExecuteSerializer(data=json_object(request.body))
        serializer.is_valid(raise_exception=True)
        run_id = _run_to_execute(serializer.validated_data["runId"], serializer.validated_data["projectId"])
        if not signed_request_accept(route=request.path_info, webhook_id=request.webhook_id):
            return Response(duplicate_receipt(request.webhook_id))
        # A run's own work only: recovery and repair are the cron tick's job.
        report = tick(budget=budget_for(request.path), run_id=run_id, recover=run_id is None)
        due = Task.objects.filter(status=TaskStatus.QUEUED, run_after__lte=clock.now())
        if (due.filter(run_id=run_id) if run_id else due).exists():
            dispatch.kick(run_id)  # the budget ran out with ready work left: go on in a new invocation
        return Response(report.as_dict())


def _run_to_execute(run_id: uuid.UUID | None, project_id: uuid.UUID | None) -> uuid.UUID | None:
    """The run named by `runId` (of `projectId`, when both are given), or the latest run of
    `projectId`; None when neither is given (ready work of any run: the engine's own kick)."""
    if run_id is not None:
        runs = WorkflowRun.objects.filter(id=run_id)
        if project_id is not None:
            runs = runs.filter(project=project_id)
        if not runs.exists():
            of_project = f" of project {project_id}" if project_id is not None else ""
            raise UnknownObject(f"No workflow run {run_id}{of_project}.", code="unknown_run")
        return run_id
    if project_id is None:
        return None
    runs = WorkflowRun.objects.filter(project=project_id).order_by("-created_at")
    latest = runs.values_list("id", flat=True).first()
    if latest is None:
        raise UnknownObject(f"No workflow run for project {project_id}.", code="unknown_project")
    return latest
