"""The 399 EUR order as a workflow: setup -> design -> (build -> deploy) and campaign -> notify.

Fail-fast: an order whose build fails for good gets no ad campaign, and one whose
campaign fails for good gets no site; a replay queues the cancelled steps again. Version 2
turned it on; a run keeps the definition it started with, so a version-1 run goes on
as it began.
"""

from __future__ import annotations

from orchestration.retry import RetryPolicy
from orchestration.workflows import Step, Workflow, register_workflow
from orders.services import ORDER_WORKFLOW_NAME

# Calls to outside services retry longer than local work.
LOCAL = RetryPolicy(max_attempts=3, base_seconds=2, cap_seconds=30)
REMOTE = RetryPolicy(max_attempts=5, base_seconds=5, cap_seconds=120)

ORDER_WORKFLOW = register_workflow(
    Workflow(
        name=ORDER_WORKFLOW_NAME,
        version=2,
        on_finish="orders.services.project_on_run_status",
        fail_fast=True,
        steps=(
            Step("setup", "core-platform.setup", timeout_seconds=30, retry=LOCAL, priority=10),
            Step("design", "design-ia.generate", needs=("setup",), timeout_seconds=170, retry=REMOTE),
            Step("build", "automation.build", needs=("design",), timeout_seconds=50, retry=LOCAL),
            Step("campaign", "ads-management.campaign", needs=("design",), timeout_seconds=50, retry=REMOTE),
            Step("deploy", "automation.deploy", needs=("build",), timeout_seconds=230, retry=REMOTE),
            Step("notify", "core-platform.notify", needs=("deploy", "campaign"), timeout_seconds=30, retry=LOCAL),
        ),
    )
)
