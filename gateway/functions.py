"""Vercel function limits, by route: the time budget of every entry point.

On Vercel `maxDuration` belongs to a function file (api/*.py), and vercel.json
rewrites each route to its file. This table is the code's side of that
agreement; tests/integration/gateway/test_vercel.py keeps vercel.json, the URLconf and
these budgets in step.
"""

from __future__ import annotations

from orchestration.budget import Budget

# Every route not named here runs in api/index.py.
DEFAULT_MAX_DURATION = 60

# route path -> (entry module under api/, maxDuration in seconds)
FUNCTIONS: dict[str, tuple[str, int]] = {
    "/api/orchestration/workflow": ("api/workflow.py", 120),
    "/api/workflows/execute": ("api/execute.py", 300),
    "/api/design-ia/generate": ("api/design_ia_generate.py", 180),
    "/api/automation/deploy": ("api/automation_deploy.py", 240),
}
DEFAULT_ENTRY = "api/index.py"


def max_duration_for(path: str) -> int:
    return FUNCTIONS.get(path, (DEFAULT_ENTRY, DEFAULT_MAX_DURATION))[1]


def budget_for(path: str) -> Budget:
    """The engine's budget for a request to `path`: its maxDuration minus the safety margin."""
    return Budget.for_function(max_duration_for(path))
