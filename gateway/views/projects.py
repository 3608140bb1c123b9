"""The project API, a public contract other programs rely on: create an order, list and read them.

A project belongs to the user whose token (or staff session) created it: a non-staff caller
lists and reads only their own and gets the same 404 for another's as for an unknown id;
staff see all (orders.selectors.projects_visible_to).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.throttling import IntakeThrottle, StaffThrottle
from gateway.exceptions import UnknownObject
from gateway.permissions import IsTokenClientOrStaff
from gateway.serializers import ProjectCreateSerializer, ProjectSerializer
from gateway.views.base import JsonApi
from orders.selectors import projects_visible_to
from orders.services import project_create

# The examples of the docs: a brief as a caller sends it, and the project it reads as.
BRIEF = {
    "business_name": "Boulangerie Martin",
    "sector": "bakery",
    "city": "Lyon",
    "description": "Artisan sourdough bread and pastries, baked every morning since 1998.",
    "pages": ["Home", "Our breads", "Orders", "Contact"],
    "brand_color": "#b45309",
    "language": "fr",
    "contact_email": "contact@boulangerie-martin.example",
}
PROJECT = {
    "id": "8b0f7d2c-7d1e-4a8e-9d0c-0f5a3c1b2e4d",
    "status": "awaiting_payment",
    "progress": {"done": 0, "total": 0},
    "status_url": "https://studio.example/status/Jx3kq0w8m2VtY5bZ1nR7cA9dE4fG6hK0/",
    "site_url": None,
    **BRIEF,
    "slug": None,
    "created_at": "2026-11-24T09:00:00Z",
    "paid_at": None,
    "delivered_at": None,
}
BUILDING = {"status": "in_progress", "progress": {"done": 3, "total": 6}}


class ProjectPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class ProjectCreateView(JsonApi, APIView):
    permission_classes = [IsTokenClientOrStaff]
    throttle_classes = [IntakeThrottle]

    @extend_schema(
        request=ProjectCreateSerializer,
        responses={201: ProjectSerializer},
        operation_id="project_create",
        summary="Create an order from a brief",
        description=(
            "Records the customer's brief as a project awaiting payment and answers it with its `status_url` "
            "(the customer's live page). The brief is checked as the workflow checks it: every bad field is "
            "named in the 400's `detail`, and nothing is stored. Pay it with a Stripe Checkout Session whose "
            "`client_reference_id` is the project's `id`."
        ),
        examples=[
            OpenApiExample(
                "A bakery in Lyon",
                request_only=True,
                value=BRIEF,
            ),
            OpenApiExample("The order, awaiting payment", response_only=True, status_codes=["201"], value=PROJECT),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = ProjectCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(**serializer.validated_data, owner=request.user)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={200: ProjectSerializer(many=True)},
        operation_id="project_list",
        summary="List your orders",
        description=(
            "The orders this caller may read, newest first, paginated with `limit` and `offset`: an "
            "integration's token lists the orders it created; staff list every order."
        ),
    )
    def get(self, request: Request) -> Response:
        paginator = ProjectPagination()
        projects = projects_visible_to(request.user).order_by("-created_at")
        page = paginator.paginate_queryset(projects, request, view=self)
        return paginator.get_paginated_response(ProjectSerializer(page, many=True).data)


class ProjectDetailView(JsonApi, APIView):
    permission_classes = [IsTokenClientOrStaff]
    throttle_classes = [StaffThrottle]

    @extend_schema(
        responses={200: ProjectSerializer},
        operation_id="project_get",
        summary="Read an order",
        description=(
            "Where the order is: its `status` (awaiting_payment, paid, in_progress, delivered, failed, "
            "cancelled), steps done out of the total (`progress`), the customer's `status_url`, and `site_url` "
            "once the site is live."
        ),
        examples=[OpenApiExample("An order being built", response_only=True, value={**PROJECT, **BUILDING})],
    )
    def get(self, request: Request, project_id: Any) -> Response:
        project = projects_visible_to(request.user).filter(id=project_id).first()
        if project is None:
            raise UnknownObject(f"No project {project_id}.", code="unknown_project")
        return Response(ProjectSerializer(project).data)
