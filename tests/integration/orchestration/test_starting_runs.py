"""Starting a workflow run: `run_start` hands back the run as stored, with one task per step
carrying that step's fields; the run names its subject (or project), the version asked for, and
one idempotency key gives one run however the starts race. A run with a status hook is inserted in
one transaction with the hook, so a failing hook leaves nothing behind."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import IntegrityError

from orchestration import queue, services
from orchestration.models import RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.retry import RetryPolicy
from orchestration.workflows import Step, Workflow, register_workflow
from orders.models import Project

pytestmark = pytest.mark.django_db

NAME = "test-starting-plan"
POLICY = RetryPolicy(max_attempts=5, base_seconds=1.5, factor=3.0, cap_seconds=90.0, jitter=0.0)
PLAN = register_workflow(
    Workflow(
        name=NAME,
        version=1,
        steps=(
            Step(
                "brief",
                "engine.echo",
                priority=2,
                timeout_seconds=7.5,
                retry=POLICY,
                concurrency_key="{agent}:{run}:{project}",
            ),
            Step("design", "engine.noop", needs=("brief",), concurrency_key="{action}"),
        ),
    )
)
# The latest version of the same workflow: a start that names version 1 must not get it.
LATEST = register_workflow(Workflow(name=NAME, version=2, steps=(Step("only", "engine.noop"),)))

HOOK_SAW: list[tuple[str, bool]] = []


class HookFailed(Exception):
    pass


def record_then_fail(run: WorkflowRun) -> None:
    """A status hook that records what it was handed (and whether the run's row exists), then fails."""
    HOOK_SAW.append((run.status, WorkflowRun.objects.filter(pk=run.pk).exists()))
    raise HookFailed("the subject could not follow its run")


HOOKED = register_workflow(
    Workflow(
        name="test-starting-hooked",
        version=1,
        on_finish="tests.integration.orchestration.test_starting_runs.record_then_fail",
        steps=(Step("only", "engine.noop"),),
    )
)


def a_project(name: str = "Bakery Lune") -> Project:
    return Project.objects.create(business_name=name, contact_email="lune@bakery.example", slug=name.lower()[:6])


def test_a_run_is_handed_back_as_stored_with_its_definition_subject_input_and_key(clock: Any) -> None:
    project = a_project()
    run = services.run_start(workflow=NAME, version=1, input={"n": 1}, subject=project, idempotency_key="order:plan")
    stored = WorkflowRun.objects.get(pk=run.pk)
    for field in WorkflowRun._meta.concrete_fields:
        assert getattr(run, field.attname) == getattr(stored, field.attname), field.attname
    assert (run._state.adding, run._state.db) == (stored._state.adding, stored._state.db)
    assert (stored.workflow, stored.version, stored.definition) == (NAME, 1, PLAN.as_dict())
    assert (stored.subject_id, stored.input, stored.idempotency_key) == (project.pk, {"n": 1}, "order:plan")
    assert (stored.status, stored.generation) == (RunStatus.RUNNING, 1)
    run.save()  # the row exists: saving the run handed back updates it, it inserts nothing
    assert WorkflowRun.objects.count() == 1


def test_each_step_becomes_one_task_with_the_steps_fields_and_the_runs_input(clock: Any) -> None:
    project = a_project()
    run = services.run_start(workflow=NAME, version=1, input={"n": 1}, project=project)
    tasks = {t.step: t for t in Task.objects.filter(run=run)}
    assert sorted(tasks) == ["brief", "design"]
    brief, design = tasks["brief"], tasks["design"]
    assert (brief.action, brief.needs, brief.status, brief.priority) == ("engine.echo", [], TaskStatus.QUEUED, 2)
    assert (brief.retry, brief.max_attempts, brief.timeout_seconds) == (POLICY.as_dict(), 5, 7.5)
    assert brief.concurrency_key == f"engine:{run.id}:{project.pk}"
    assert (design.action, design.needs, design.status) == ("engine.noop", ["brief"], TaskStatus.WAITING)
    assert design.concurrency_key == "engine.noop"
    for step, task in tasks.items():
        assert (task.input, task.run_after, task.attempt) == ({"n": 1}, clock.now(), 0)
        assert task.idempotency_key == f"{run.id}:{step}:g1"


@pytest.mark.parametrize("named_as", ["subject", "project"])
def test_the_run_records_what_it_is_for_under_either_name(named_as: str) -> None:
    project = a_project()
    run = services.run_start(workflow=NAME, **{named_as: project})
    assert WorkflowRun.objects.get(pk=run.pk).subject_id == project.pk


def test_a_start_gets_the_version_it_names_and_the_latest_without_one() -> None:
    assert services.run_start(workflow=NAME, version=1).version == 1
    assert services.run_start(workflow=NAME).version == 2


def test_a_workflow_handed_over_is_started_as_given_without_being_registered() -> None:
    unregistered = Workflow(name="test-starting-unregistered", version=3, steps=(Step("only", "engine.noop"),))
    run = services.run_start(workflow=unregistered)
    stored = WorkflowRun.objects.get(pk=run.pk)
    assert (stored.workflow, stored.version, stored.definition) == (unregistered.name, 3, unregistered.as_dict())
    assert list(Task.objects.filter(run=run).values_list("step", flat=True)) == ["only"]


def test_a_second_start_with_a_key_reads_the_first_run_and_inserts_nothing(django_assert_num_queries: Any) -> None:
    first = services.run_start(workflow=NAME, version=1, idempotency_key="order:once")
    with django_assert_num_queries(1):  # the key's lookup: no insert attempted
        again = services.run_start(workflow=NAME, version=1, idempotency_key="order:once")
    assert again.id == first.id
    assert (WorkflowRun.objects.count(), Task.objects.count()) == (1, 2)


def test_a_start_with_a_new_key_is_a_new_run_while_runs_without_a_key_exist() -> None:
    keyless = services.run_start(workflow=NAME, version=1)
    keyed = services.run_start(workflow=NAME, version=1, idempotency_key="order:new")
    assert keyed.id != keyless.id
    assert WorkflowRun.objects.get(pk=keyed.pk).idempotency_key == "order:new"


def test_a_start_that_loses_the_race_for_its_key_returns_the_winners_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both starts found no run with the key; the other inserted first, so this one's insert
    stores nothing and it returns the other's run."""
    real_insert = queue.insert_run
    winners: list[WorkflowRun] = []

    def the_other_start_inserts_first(**kwargs: Any) -> bool:
        monkeypatch.setattr(queue, "insert_run", real_insert)
        winners.append(services.run_start(workflow=NAME, version=1, idempotency_key=kwargs["run"].idempotency_key))
        return real_insert(**kwargs)

    monkeypatch.setattr(queue, "insert_run", the_other_start_inserts_first)
    run = services.run_start(workflow=NAME, version=1, idempotency_key="order:race")
    [winner] = winners
    assert run.id == winner.id
    assert (WorkflowRun.objects.count(), Task.objects.count()) == (1, 2)


def test_an_insert_that_stores_nothing_while_no_run_holds_the_key_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue, "insert_run", lambda **kwargs: False)
    with pytest.raises(IntegrityError, match=rf"^Run [0-9a-f-]{{36}} of {NAME} was not inserted$"):
        services.run_start(workflow=NAME, version=1, idempotency_key="order:lost")


def test_a_status_hook_sees_the_stored_run_and_its_failure_leaves_no_run_behind() -> None:
    HOOK_SAW.clear()
    with pytest.raises(HookFailed):
        services.run_start(workflow="test-starting-hooked", idempotency_key="order:hooked")
    assert HOOK_SAW == [(RunStatus.RUNNING, True)]
    assert not WorkflowRun.objects.exists() and not Task.objects.exists()


def test_a_start_is_logged_with_its_run_and_workflow(caplog: Any) -> None:
    with caplog.at_level(logging.INFO, logger="orchestration"):
        run = services.run_start(workflow=NAME, version=1)
    [logged] = [r for r in caplog.records if r.name == "orchestration" and r.getMessage() == "run started"]
    assert (logged.action, logged.run_id, logged.workflow) == ("run_start", str(run.id), NAME)
