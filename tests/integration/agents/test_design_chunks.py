"""design-ia.generate writes the copy one page per chunk: short budgets continue the same attempt, and a
crash keeps the pages already written."""

from __future__ import annotations

from typing import Any

import pytest

from agents.actions import design_ia
from agents.copywriting import OfflineCopywriter
from agents.models import SideEffect
from agents.providers.errors import ProviderRetryableError
from orchestration import services
from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import AttemptOutcome, TaskStatus
from tests.support.briefs import load_briefs
from tests.support.orders import drive, place_order, step_tasks

pytestmark = pytest.mark.django_db

BAKERY = load_briefs()[0]  # four pages: Accueil, Nos pains, Pâtisseries, Contact
PAGE_SECONDS = 0.6
STAFF = services.Actor(label="test:staff")


class TimedCopywriter(OfflineCopywriter):
    """The offline writer, taking PAGE_SECONDS of the fake clock per page and failing where told to."""

    calls: list[int] = []
    fail_on: set[tuple[int, int]] = set()  # (page index, call number of that page) that raise

    def __init__(self, advance: Any) -> None:
        self.advance = advance

    def write_page(self, *, brief: Any, design: Any, page: str, index: int, idempotency_key: str) -> dict[str, Any]:
        type(self).calls.append(index)
        self.advance(PAGE_SECONDS)
        if (index, type(self).calls.count(index)) in type(self).fail_on:
            raise ProviderRetryableError("llm: HTTP 503 on POST /v1/chat/completions", provider="llm", status=503)
        return super().write_page(brief=brief, design=design, page=page, index=index, idempotency_key=idempotency_key)


@pytest.fixture
def writer(monkeypatch, clock, settings) -> type[TimedCopywriter]:
    settings.LLM_BASE_URL = ""  # the offline writer, so the estimate is SECONDS_PER_OFFLINE_PAGE
    TimedCopywriter.calls = []
    TimedCopywriter.fail_on = set()
    monkeypatch.setattr(design_ia, "OfflineCopywriter", lambda: TimedCopywriter(clock.advance))
    return TimedCopywriter


def design_task(project: Any) -> Any:
    return step_tasks(project)["design"]


def run_until_design_is_done(project: Any, *, budget: float, limit: int = 20) -> int:
    """Ticks of `budget` seconds until the design step succeeds; returns how many ticks ran it."""
    for invocation in range(1, limit + 1):
        tick(budget=Budget.seconds(budget))
        if design_task(project).status == TaskStatus.SUCCEEDED:
            return invocation
    raise AssertionError(f"design still {design_task(project).status} after {limit} ticks")


def test_a_four_page_brief_on_a_short_budget_takes_one_page_per_invocation_in_one_attempt(writer):
    project = place_order(BAKERY)

    invocations = run_until_design_is_done(project, budget=1.0)

    task = design_task(project)
    assert invocations == 4
    assert task.attempt == 1
    outcomes = list(task.agent_runs.order_by("id").values_list("attempt", "outcome"))
    assert outcomes == [(1, AttemptOutcome.CONTINUED)] * 3 + [(1, AttemptOutcome.SUCCEEDED)]
    assert writer.calls == [0, 1, 2, 3], "every page written exactly once"
    assert [p["nav_label"] for p in task.output["pages"]] == ["Accueil", "Nos pains", "Pâtisseries", "Contact"]
    assert task.output["copywriter"] == "offline"


def test_a_long_budget_writes_every_page_in_one_invocation(writer):
    project = place_order(BAKERY)

    assert run_until_design_is_done(project, budget=60.0) == 1
    assert list(design_task(project).agent_runs.values_list("outcome", flat=True)) == [AttemptOutcome.SUCCEEDED]


def test_each_page_is_checkpointed_as_it_is_written(writer):
    project = place_order(BAKERY)
    tick(budget=Budget.seconds(1.0))  # setup, then the first page of the design
    tick(budget=Budget.seconds(1.0))  # the second page

    task = design_task(project)
    assert task.status == TaskStatus.QUEUED and task.attempt == 1
    assert [p["nav_label"] for p in task.cursor["pages"]] == ["Accueil", "Nos pains"]
    assert task.progress == {"done": 2, "total": 4}
    ledger = SideEffect.objects.filter(project__id=project.pk, kind=design_ia.PAGE_KIND, status=SideEffect.Status.DONE)
    assert ledger.count() == 2


def test_a_crash_in_the_middle_of_the_step_keeps_the_pages_already_written(writer, clock):
    writer.fail_on = {(2, 1)}  # the first try of the third page fails, inside a long invocation
    project = place_order(BAKERY)

    tick(budget=Budget.seconds(60.0))
    task = design_task(project)
    assert (task.status, task.attempt) == (TaskStatus.QUEUED, 1)
    assert "HTTP 503" in task.last_error
    assert writer.calls == [0, 1, 2]

    clock.advance(300)  # past the retry's backoff
    drive(project)

    task = design_task(project)
    assert (task.status, task.attempt) == (TaskStatus.SUCCEEDED, 2)
    assert writer.calls == [0, 1, 2, 2, 3], "the retry wrote only the pages the crash had not"
    assert [p["nav_label"] for p in task.output["pages"]] == ["Accueil", "Nos pains", "Pâtisseries", "Contact"]
    assert project.status == "delivered"


def test_a_replay_writes_fresh_copy_instead_of_reading_the_old_generation_pages(writer):
    project = place_order(BAKERY)
    run = project.runs.get()
    tick(budget=Budget.seconds(60.0), max_tasks=2)  # setup and design only
    assert design_task(project).status == TaskStatus.SUCCEEDED
    services.run_cancel(run=run, actor=STAFF, reason="the customer changed their mind about the copy")
    assert writer.calls == [0, 1, 2, 3]

    services.run_replay(run=run, actor=STAFF, mode="step", from_step="design")
    drive(project)

    assert writer.calls == [0, 1, 2, 3, 0, 1, 2, 3], "a replay is a new generation with its own keys"
    assert project.status == "delivered"
