"""Routes of the HTTP surface, a public contract spelled exactly as its callers send them:
no trailing slash where they send none, since crons and webhooks must never be redirected."""

from django.urls import path, re_path

from gateway.views.agents import AGENT_ROUTE, AgentActionView, AgentCallbackView
from gateway.views.cron import ExecuteView, MetricsRollupView, WorkflowTickView
from gateway.views.health import HealthView
from gateway.views.orchestration import (
    RunCancelView,
    RunDetailView,
    RunListView,
    RunReplayView,
    TaskRetryView,
)
from gateway.views.payments import StripeWebhookView
from gateway.views.projects import ProjectCreateView, ProjectDetailView
from gateway.views.schema import DocsView, SchemaView

urlpatterns = [
    path("api/health", HealthView.as_view(), name="api-health"),
    path("api/projects/", ProjectCreateView.as_view(), name="api-projects"),
    path("api/projects/<uuid:project_id>/", ProjectDetailView.as_view(), name="api-project"),
    path("api/payments/webhook", StripeWebhookView.as_view(), name="api-payments-webhook"),
    path("api/orchestration/webhooks", AgentCallbackView.as_view(), name="api-agent-callback"),
    path("api/orchestration/workflow", WorkflowTickView.as_view(), name="api-cron-workflow"),
    path("api/orchestration/runs/", RunListView.as_view(), name="api-runs"),
    path("api/orchestration/runs/<uuid:run_id>/", RunDetailView.as_view(), name="api-run"),
    path("api/orchestration/runs/<uuid:run_id>/cancel", RunCancelView.as_view(), name="api-run-cancel"),
    path("api/orchestration/runs/<uuid:run_id>/replay", RunReplayView.as_view(), name="api-run-replay"),
    path("api/orchestration/tasks/<int:task_id>/retry", TaskRetryView.as_view(), name="api-task-retry"),
    path("api/workflows/execute", ExecuteView.as_view(), name="api-workflows-execute"),
    path("api/system/metrics", MetricsRollupView.as_view(), name="api-system-metrics"),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", DocsView.as_view(), name="api-docs"),
    re_path(AGENT_ROUTE, AgentActionView.as_view(), name="api-agent-action"),
]
