"""The tick in HTTP dispatch mode counts each attempt's outcome once, as the inline executor does:
an attempt answered at once is counted by its outcome; one an agent will call back about, when it
reports."""

from __future__ import annotations

from typing import Any

import pytest

from orchestration import services
from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import TaskStatus

pytestmark = pytest.mark.django_db


def test_an_attempt_whose_dispatch_fails_is_counted_once_as_failed(settings: Any, agent: Any) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "DISPATCH_MODE": "http"}
    settings.AGENTS_BASE_URL = "http://127.0.0.1:9"  # the discard port: connection refused at once
    task = services.enqueue("engine.noop")
    report = tick(budget=Budget.seconds(10))
    assert (report.claimed, report.failed, report.succeeded, report.stale) == (1, 1, 0, 0)
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.QUEUED, 1), "unreachable: retried later"
    assert "unreachable" in task.last_error
