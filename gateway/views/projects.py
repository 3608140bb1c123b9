"""The project API (SPEC, "Contracts other programs rely on"): create an order, list and read them.

A project belongs to the user whose token (or staff session) created it: a non-staff caller
lists and reads only their own and gets the same 404 for another's as for an unknown id;
staff see all (orders.selectors.projects_visible_to).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.exceptions import UnknownObject
from gateway.permissions import IsTokenClientOrStaff
from gateway.serializers import ProjectCreateSerializer, ProjectSerializer
from gateway.throttling import IntakeThrottle, StaffThrottle
from gateway.views.base import JsonApi
from orders.selectors import projects_visible_to
from orders.services import project_create


class ProjectPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class ProjectCreateView(JsonApi, APIView):
    permission_classes = [IsTokenClientOrStaff]
    throttle_classes = [IntakeThrottle]

    @extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer}, operation_id="project_create")
    def post(self, request: Request) -> Response:
        serializer = ProjectCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(**serializer.validated_data, owner=request.user)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: ProjectSerializer(many=True)}, operation_id="project_list")
    def get(self, request: Request) -> Response:
        paginator = ProjectPagination()
        projects = projects_visible_to(request.user).order_by("-created_at")
        page = paginator.paginate_queryset(projects, request, view=self)
        return paginator.get_paginated_response(ProjectSerializer(page, many=True).data)


class ProjectDetailView(JsonApi, APIView):
    permission_classes = [IsTokenClientOrStaff]
    throttle_classes = [StaffThrottle]

    @extend_schema(responses={200: ProjectSerializer}, operation_id="project_get")
    def get(self, request: Request, project_id: Any) -> Response:
        project = projects_visible_to(request.user).filter(id=project_id).first()
        if project is None:
            raise UnknownObject(f"No project {project_id}.", code="unknown_project")
        return Response(ProjectSerializer(project).data)
