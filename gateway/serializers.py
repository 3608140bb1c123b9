"""Input and output shapes of the HTTP surface, one serializer per direction.

Input serializers validate and name every bad field; output serializers are the
public contract other programs rely on: kept exactly, extended freely. No serializer writes
to the database: views hand validated data to services.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestration.models import Task, WorkflowRun
from orders.brief import clean_brief, validate_brief
from orders.intake import intake_business_details
from orders.models import DEFAULT_PAGES, Language, Project
from orders.selectors import project_id_of_run, project_progress

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_PAGES = 12
MAX_PAGE_TITLE = 60


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    detail = serializers.JSONField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    """The one error body of the HTTP surface (gateway/exceptions.py), for the schema."""

    error = ErrorDetailSerializer()


class ProjectCreateSerializer(serializers.Serializer):
    business_name = serializers.CharField(min_length=1, max_length=120, trim_whitespace=True)
    sector = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    pages = serializers.ListField(
        child=serializers.CharField(min_length=1, max_length=MAX_PAGE_TITLE, trim_whitespace=True),
        min_length=1,
        max_length=MAX_PAGES,
        required=False,
        default=lambda: list(DEFAULT_PAGES),
    )
    brand_color = serializers.RegexField(
        HEX_COLOR,
        required=False,
        default="#2563eb",
        error_messages={"invalid": "Enter a colour as #rrggbb, e.g. #8a4b2a."},
    )
    language = serializers.ChoiceField(choices=Language.choices, required=False, default=Language.FR)
    contact_email = serializers.EmailField(max_length=254)

    def validate_pages(self, pages: list[str]) -> list[str]:
        folded = [p.casefold() for p in pages]
        repeated = sorted({p for p, f in zip(pages, folded, strict=True) if folded.count(f) > 1})
        if repeated:
            raise serializers.ValidationError(f"Page titles must be unique; repeated: {', '.join(repeated)}.")
        return pages

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The setup step's own validation (orders.brief.validate_brief), on what would be stored:
        what intake accepts, setup accepts, so no order is paid for that can only fail. Returns the
        cleaned brief (the form setup and the agents read)."""
        # The brief's optional business details and images (orders/business_details.py, orders/media.py) are
        # read from the body as sent; a French brief must carry its legal-notice fields.
        details, errors = intake_business_details(self.initial_data, attrs)
        if errors:
            raise serializers.ValidationError(errors)
        # Images are checked and prepared above; the rest of the details go through setup's validation too.
        errors = validate_brief({**attrs, **{k: v for k, v in details.items() if k not in ("photos", "logo")}})
        if errors:
            raise serializers.ValidationError(errors)
        return {**clean_brief(attrs), **details}


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class ProjectSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    status_url = serializers.SerializerMethodField()
    site_url = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "status",
            "progress",
            "status_url",
            "site_url",
            "business_name",
            "sector",
            "city",
            "description",
            "pages",
            "brand_color",
            "language",
            "contact_email",
            "details",
            "slug",
            "created_at",
            "paid_at",
            "delivered_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, project: Project) -> dict[str, int]:
        return project_progress(project)

    @extend_schema_field(OpenApiTypes.URI)
    def get_status_url(self, project: Project) -> str:
        return f"{settings.SITE_URL}/status/{project.status_token}/"

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_site_url(self, project: Project) -> str | None:
        # The model stores "" until the site is live; the contract says null.
        return project.site_url or None


class TaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = [
            "id",
            "step",
            "action",
            "needs",
            "status",
            "attempt",
            "max_attempts",
            "run_after",
            "lease_expires_at",
            "progress",
            "output",
            "last_error",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class _ProjectOfRun(serializers.UUIDField):
    """The order a run is for, on the wire as before (the project's id): its subject's id when
    that subject is a project, null for a run of anything else."""

    def get_attribute(self, instance: WorkflowRun) -> Any:
        return project_id_of_run(instance)


class RunSerializer(serializers.ModelSerializer):
    project = _ProjectOfRun(read_only=True, allow_null=True)

    class Meta:
        model = WorkflowRun
        fields = ["id", "workflow", "version", "status", "project", "generation", "error", "created_at", "finished_at"]
        read_only_fields = fields


class RunDetailSerializer(RunSerializer):
    tasks = TaskSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "input", "tasks"]
        read_only_fields = fields


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ReplaySerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["failed", "scratch", "step"], default="failed")
    from_step = serializers.CharField(max_length=100, required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["mode"] == "step" and not attrs.get("from_step"):
            raise serializers.ValidationError({"from_step": "Required when mode is 'step'."})
        return attrs


REPORT_TYPES = ["task_started", "task_progress", "task_completed", "task_failed"]


class AgentReportSerializer(serializers.Serializer):
    """An agent's callback, a public wire format: what happened to one attempt of one task.

    `data` by type: task_completed `{"output": {...}}` or a checkpoint
    `{"cursor": ..., "progress": {...}, "continue": true}`; task_failed
    `{"error": "...", "retryable": bool, "errorType": "..."}`; task_progress
    `{"progress": {...}}`; task_started `{}`.
    """

    type = serializers.ChoiceField(choices=REPORT_TYPES)
    agentId = serializers.CharField(max_length=100)
    projectId = serializers.UUIDField(allow_null=True, required=False, default=None)
    taskId = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    attempt = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    data = serializers.DictField(required=False, default=dict)
    # The attempt's lease token, sent with the dispatch request: when present it fences the
    # report (no report of an earlier attempt is applied); without it, the attempt number does
    # (agents written against the published callback body, which has no leaseToken).
    leaseToken = serializers.UUIDField(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        data = attrs["data"]
        kind = attrs["type"]
        if kind == "task_failed" and not isinstance(data.get("error", ""), str):
            raise serializers.ValidationError({"data": "data.error must be a string."})
        if kind == "task_failed" and not isinstance(data.get("retryable", True), bool):
            raise serializers.ValidationError({"data": "data.retryable must be a boolean."})
        if kind in ("task_progress", "task_completed") and not isinstance(data.get("progress") or {}, dict):
            raise serializers.ValidationError({"data": "data.progress must be an object."})
        if kind == "task_completed" and not data.get("continue") and not isinstance(data.get("output", {}), dict):
            raise serializers.ValidationError({"data": "data.output must be an object."})
        return attrs


class ExecuteSerializer(serializers.Serializer):
    runId = serializers.UUIDField(required=False, allow_null=True, default=None)
    projectId = serializers.UUIDField(required=False, allow_null=True, default=None)
