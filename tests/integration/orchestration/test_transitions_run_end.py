"""What follows a run's end (orchestration.transitions.after_run_finished): the log line and the
announcement, with the run, its status and its error, sent by WorkflowRun."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from orchestration import queue, services, signals
from orchestration.models import RunStatus, WorkflowRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished() -> Iterator[list[tuple[Any, str, str]]]:
    """The run_finished announcements sent by WorkflowRun: (run id, status, error)."""
    got: list[tuple[Any, str, str]] = []

    def hear(sender: Any, *, run: WorkflowRun, status: str, error: str, **_: Any) -> None:
        got.append((run.id, status, error))

    signals.run_finished.connect(hear, sender=WorkflowRun, weak=False)
    yield got
    signals.run_finished.disconnect(hear, sender=WorkflowRun)


def test_a_run_finished_by_its_last_completion_is_logged_and_announced_with_no_error(clock, caplog, finished) -> None:
    run = services.run_start(workflow="test-versioned")
    (only,) = queue.claim(limit=1, worker="w", now=clock.now())

    with caplog.at_level(logging.INFO, logger="orchestration"):
        assert services.task_complete(task_id=only.id, output={}, lease_token=only.lease_token)

    assert WorkflowRun.objects.get(id=run.id).status == RunStatus.SUCCEEDED
    assert finished == [(run.id, RunStatus.SUCCEEDED, "")]
    [logged] = [r for r in caplog.records if r.name == "orchestration" and r.getMessage() == "run finished"]
    assert (logged.action, logged.run_id, logged.status) == ("run_finish", str(run.id), RunStatus.SUCCEEDED)


def test_a_cancelled_run_is_logged_and_announced_with_who_cancelled_it(caplog, finished) -> None:
    run = services.run_start(workflow="test-versioned")

    with caplog.at_level(logging.INFO, logger="orchestration"):
        services.run_cancel(run=run, actor=services.Actor(label="test:staff"), reason="asked")

    assert finished == [(run.id, RunStatus.CANCELLED, "Cancelled by test:staff: asked")]
    [logged] = [r for r in caplog.records if r.name == "orchestration" and r.getMessage() == "run finished"]
    assert (logged.action, logged.run_id, logged.status) == ("run_finish", str(run.id), RunStatus.CANCELLED)
