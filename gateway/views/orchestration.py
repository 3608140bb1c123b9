"""`/api/orchestration/*` for staff and integrations: read runs with their tasks; cancel,
replay and retry through the engine's services, recorded with the acting user and the time.

Staff may do everything; an integration's token user needs Django's model
permissions (view to read, change to act), granted in the admin like any other.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.throttling import StaffThrottle
from gateway.exceptions import MalformedBody, UnknownObject
from gateway.permissions import CanActOnRuns, CanRetryTasks, CanViewRuns
from gateway.serializers import (
    CancelSerializer,
    ErrorSerializer,
    ReplaySerializer,
    RunDetailSerializer,
    RunSerializer,
    TaskSerializer,
)
from gateway.views.base import JsonApi
from orchestration.models import RunStatus, Task, WorkflowRun
from orchestration.services import Actor, run_cancel, run_replay, task_retry
from orders.selectors import projects_visible_to


def runs_visible_to(user: Any) -> QuerySet[WorkflowRun]:
    """Staff see every run; anyone else (an integration's user holding the model permissions)
    only the runs of their own projects. Another's run is a 404, like an unknown one."""
    runs = WorkflowRun.objects.all()
    return runs if user.is_staff else runs.filter(project__in=projects_visible_to(user))


def _run(run_id: Any, user: Any) -> WorkflowRun:
    run = runs_visible_to(user).filter(id=run_id).first()
    if run is None:
        raise UnknownObject(f"No workflow run {run_id}.", code="unknown_run")
    return run


class RunPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class RunListView(JsonApi, ListAPIView):
    permission_classes = [CanViewRuns]
    throttle_classes = [StaffThrottle]
    serializer_class = RunSerializer
    pagination_class = RunPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=list(RunStatus.values)),
            OpenApiParameter("project", str, description="a project id (UUID)"),
        ],
        operation_id="runs_list",
        summary="List workflow runs",
        description=(
            "Newest first, 50 a page (`limit`, `offset`; at most 200). Filter by `status` or by `project` (a "
            "project id). Staff, or a token user with the view permission on workflow runs."
        ),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[WorkflowRun]:
        runs = runs_visible_to(self.request.user).order_by("-created_at")
        wanted = self.request.query_params.get("status")
        if wanted:
            if wanted not in RunStatus.values:
                raise MalformedBody(f"status must be one of {', '.join(RunStatus.values)}.", code="invalid_filter")
            runs = runs.filter(status=wanted)
        project = self.request.query_params.get("project")
        if project:
            try:
                runs = runs.filter(project=uuid.UUID(project))
            except ValueError as exc:
                raise MalformedBody("project must be a project id (UUID).", code="invalid_filter") from exc
        return runs


class RunDetailView(JsonApi, APIView):
    permission_classes = [CanViewRuns]
    throttle_classes = [StaffThrottle]

    @extend_schema(
        responses={200: RunDetailSerializer},
        operation_id="run_get",
        summary="Read a workflow run with its steps",
        description="The run, its steps (status, attempts, last error) and the operator acts on it.",
    )
    def get(self, request: Request, run_id: Any) -> Response:
        return Response(RunDetailSerializer(_run(run_id, request.user)).data)


class RunCancelView(JsonApi, APIView):
    permission_classes = [CanActOnRuns]
    throttle_classes = [StaffThrottle]

    @extend_schema(
        request=CancelSerializer,
        responses={200: RunDetailSerializer, 409: ErrorSerializer},
        operation_id="run_cancel",
        summary="Cancel a running run",
        description=(
            "Stops a running run: its unfinished steps are cancelled and late reports from them ignored. "
            "Recorded with the acting user. A run that is not running is a 409 `illegal_transition`."
        ),
        examples=[OpenApiExample("Why", request_only=True, value={"reason": "the customer asked for a refund"})],
    )
    def post(self, request: Request, run_id: Any) -> Response:
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = run_cancel(
            run=_run(run_id, request.user),
            actor=Actor.of_user(request.user),
            reason=serializer.validated_data["reason"],
        )
        return Response(RunDetailSerializer(run).data)


class RunReplayView(JsonApi, APIView):
    permission_classes = [CanActOnRuns]
    throttle_classes = [StaffThrottle]

    @extend_schema(
        request=ReplaySerializer,
        responses={200: RunDetailSerializer, 409: ErrorSerializer},
        operation_id="run_replay",
        summary="Replay a failed or cancelled run",
        description=(
            "`mode` `failed` re-runs the failed steps and what follows them, keeping every step that "
            "succeeded; `step` re-runs `from_step` and what follows it; `scratch` re-runs everything. Agents "
            "get fresh idempotency keys for the redone work. Recorded with the acting user. A run that is "
            "still running, or has nothing to replay, is a 409 `illegal_transition`."
        ),
        examples=[
            OpenApiExample("From the failed steps", request_only=True, value={"mode": "failed"}),
            OpenApiExample("From a step", request_only=True, value={"mode": "step", "from_step": "design"}),
        ],
    )
    def post(self, request: Request, run_id: Any) -> Response:
        serializer = ReplaySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = run_replay(
            run=_run(run_id, request.user),
            actor=Actor.of_user(request.user),
            mode=serializer.validated_data["mode"],
            from_step=serializer.validated_data["from_step"],
        )
        return Response(RunDetailSerializer(run).data)


class TaskRetryView(JsonApi, APIView):
    permission_classes = [CanRetryTasks]
    throttle_classes = [StaffThrottle]

    @extend_schema(
        request=None,
        responses={200: TaskSerializer, 409: ErrorSerializer},
        operation_id="task_retry",
        summary="Retry one task now",
        description=(
            "A dead task of a failed run gets a fresh set of attempts (its run runs again); a queued task "
            "waiting for its backoff runs at once. Recorded with the acting user. Any other state is a 409."
        ),
    )
    def post(self, request: Request, task_id: int) -> Response:
        tasks = (
            Task.objects.all() if request.user.is_staff else Task.objects.filter(run__in=runs_visible_to(request.user))
        )
        task = tasks.filter(id=task_id).first()
        if task is None:
            raise UnknownObject(f"No task {task_id}.", code="unknown_task")
        return Response(TaskSerializer(task_retry(task=task, actor=Actor.of_user(request.user))).data)
