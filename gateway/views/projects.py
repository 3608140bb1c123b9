"""The project API (SPEC, "Contracts other programs rely on"): create an order, read it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.exceptions import UnknownObject
from gateway.permissions import IsTokenClientOrStaff
from gateway.serializers import ProjectCreateSerializer, ProjectSerializer
from gateway.throttling import IntakeThrottle, StaffThrottle
from gateway.views.base import JsonApi
from orders.models import Project
from orders.services import project_create


class ProjectCreateView(JsonApi, APIView):
    permission_classes = [IsTokenClientOrStaff]
    throttle_classes = [IntakeThrottle]

    @extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer}, operation_id="project_create")
    def post(self, request: Request) -> Response:
        serializer = ProjectCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(**serializer.validated_data)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(JsonApi, APIView):
    permission_classes = [IsTokenClientOrStaff]
    throttle_classes = [StaffThrottle]

    @extend_schema(responses={200: ProjectSerializer}, operation_id="project_get")
    def get(self, request: Request, project_id: Any) -> Response:
        project = Project.objects.filter(id=project_id).first()
        if project is None:
            raise UnknownObject(f"No project {project_id}.", code="unknown_project")
        return Response(ProjectSerializer(project).data)
