"""One TaskContext on every path: an action gets the same context inline and over HTTP."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from orchestration import clock, dispatch, services
from orchestration.context import context_as_request, context_of_claim, context_of_request, dependency_outputs
from orchestration.queue import claim
from orchestration.registry import TaskContext

pytestmark = pytest.mark.django_db

# Every field of the context but the deadline and the callbacks, which each path sets itself: a
# field added to TaskContext must travel in the dispatch request too.
FIELDS = [f.name for f in fields(TaskContext) if f.name not in ("deadline", "heartbeat", "report_progress")]


def claimed_left_step():
    """The `left` step of a diamond run, claimed once `start` succeeded with an output."""
    services.run_start(workflow="test-diamond", input={"project_id": "p-1", "n": 2})
    [start] = claim(limit=1, worker="w", now=clock.now())
    assert services.task_complete(task_id=start.id, output={"made": "start"}, lease_token=start.lease_token)
    claimed = claim(limit=2, worker="w", now=clock.now())
    return next(t for t in claimed if t.step == "left")


def test_the_context_of_a_claim_carries_the_attempt_and_its_dependencies_outputs() -> None:
    task = claimed_left_step()
    ctx = context_of_claim(task, deadline=123.0)
    assert (ctx.task_id, ctx.action, ctx.attempt, ctx.step) == (task.id, "engine.echo", 1, "left")
    assert ctx.inputs == {"start": {"made": "start"}}
    assert (ctx.project_id, ctx.run_id, ctx.deadline) == ("p-1", task.run_id, 123.0)
    assert ctx.idempotency_key == task.idempotency_key


def test_an_agent_over_http_gets_the_context_the_inline_executor_would_build() -> None:
    task = claimed_left_step()
    inline = context_of_claim(task, deadline=50.0)
    body = dispatch._request_body(task, 10.0, respond_async=False)
    over_http = context_of_request(body, deadline=50.0)
    assert {f: getattr(over_http, f) for f in FIELDS} == {f: getattr(inline, f) for f in FIELDS}
    assert context_as_request(inline).items() <= body.items()


def test_outputs_read_by_the_claim_are_not_read_again(django_assert_num_queries) -> None:
    task = replace(claimed_left_step(), inputs={"start": {"from": "the claim"}})
    with django_assert_num_queries(0):
        assert dependency_outputs(task) == {"start": {"from": "the claim"}}


def test_a_task_without_a_run_or_needs_has_no_inputs(django_assert_num_queries) -> None:
    services.enqueue("engine.noop")
    [task] = claim(limit=1, worker="w", now=clock.now())
    with django_assert_num_queries(0):
        assert dependency_outputs(replace(task, inputs=None)) == {}


def test_a_minimal_dispatch_request_gets_defaults() -> None:
    ctx = context_of_request({"taskId": "7", "attempt": "2", "action": "engine.noop"}, deadline=1.0)
    assert (ctx.task_id, ctx.attempt, ctx.idempotency_key) == (7, 2, "task:7")
    assert (ctx.input, ctx.inputs, ctx.cursor, ctx.run_id, ctx.project_id, ctx.step) == ({}, {}, None, None, None, "")
