"""HTTP dispatch mode: the same order completes with every agent reached over HTTP,
answering with the result or with 202 and a signed callback; failures map to retries."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from pytest_httpserver import HTTPServer
from rest_framework.authtoken.models import Token
from standardwebhooks.webhooks import Webhook
from werkzeug import Response

from gateway.models import EventSource, EventStatus, WebhookEvent
from gateway.signatures import route_key
from orchestration import clock as engine_clock
from orchestration import dispatch, queue
from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.retry import RetryPolicy
from orchestration.services import recover_expired_leases, run_start
from orchestration.workflows import Step, Workflow, register_workflow
from orders.models import Project, ProjectStatus
from tests.integration.gateway.conftest import BRIEF, checkout_event, stripe_headers

# The order's shape (fan-out after design, fan-in at notify) with generic actions, so the
# HTTP path is tested whatever the state of the real agents.
ORDER_SHAPE = register_workflow(
    Workflow(
        name="test-http-order",
        version=1,
        on_finish="orders.services.project_on_run_status",
        steps=(
            Step("setup", "engine.echo"),
            Step("design", "engine.echo", needs=("setup",)),
            Step("build", "engine.echo", needs=("design",)),
            Step("campaign", "engine.noop", needs=("design",)),
            Step("deploy", "engine.echo", needs=("build",)),
            Step("notify", "engine.echo", needs=("deploy", "campaign")),
        ),
    )
)
ONE_STEP = register_workflow(
    Workflow(
        name="test-http-one",
        version=1,
        steps=(Step("only", "engine.echo", timeout_seconds=30, retry=RetryPolicy(max_attempts=3, base_seconds=1)),),
    )
)


@pytest.fixture
def http_mode(settings: Any) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "DISPATCH_MODE": "http"}


@pytest.fixture
def over_http(
    live_server: Any, settings: Any, http_mode: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, int]]:
    """A live server as the whole deployment, kicks on, and proof that work crosses HTTP:
    the in-process executor's action lookup is cut off; the agent routes are counted."""
    settings.SITE_URL = settings.AGENTS_BASE_URL = live_server.url
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "KICK": True}
    monkeypatch.setattr("orchestration.execution.get_action", _inline_forbidden)
    calls = {"agent": 0}
    real = dispatch.run_dispatched

    def counted(request: dict[str, Any], *, budget: Budget) -> dispatch.Report:
        calls["agent"] += 1
        return real(request, budget=budget)

    monkeypatch.setattr(dispatch, "run_dispatched", counted)
    before = set(threading.enumerate())
    yield calls
    _wait_for_the_work_still_in_flight(before, settings)


def _in_flight(thread: threading.Thread) -> bool:
    # A request the live server is handling, or an agent's callback (not the lease heartbeat,
    # which lives as long as the process).
    return thread.name == "agent-callback" or "process_request_thread" in thread.name


def _wait_for_the_work_still_in_flight(before: set[threading.Thread], settings: Any) -> None:
    """A test ends when its order is delivered, but kicks and callbacks go on: the live server's
    request threads (an execute route a kick started) and the agents' callback threads. The
    teardown then empties every table under them, and a thread still writing deadlocks it (and
    the next test meets its leftovers). No more kicks; then wait, bounded, until they are done."""
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "KICK": False}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = [t for t in threading.enumerate() if t not in before and t.is_alive() and _in_flight(t)]
        if not running:
            return
        running[0].join(timeout=max(0.0, deadline - time.monotonic()))


@pytest.fixture
def shaped_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Payments start the order-shaped test workflow instead of the real agents' one."""
    monkeypatch.setattr("orders.services.ORDER_WORKFLOW_NAME", "test-http-order")


def _inline_forbidden(name: str) -> Any:
    raise AssertionError(f"{name} ran in-process in HTTP dispatch mode")


def _order_over_http(base: str) -> Project:
    """Intake and a Stripe-signed payment, both over HTTP; returns the project once it is done."""
    user = User.objects.create_user("intake", "i@studio.example", "pw")
    token = Token.objects.create(user=user).key
    created = requests.post(
        f"{base}/api/projects/", json=BRIEF, headers={"Authorization": f"Token {token}"}, timeout=10
    )
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    body = json.dumps(checkout_event(project_id)).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": stripe_headers(body)["HTTP_STRIPE_SIGNATURE"]}
    paid = requests.post(f"{base}/api/payments/webhook", data=body, headers=headers, timeout=10)
    assert paid.status_code == 200 and paid.json()["status"] == "processed", paid.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        project = Project.objects.get(id=project_id)
        if project.status in (ProjectStatus.DELIVERED, ProjectStatus.FAILED):
            return project
        time.sleep(0.1)
    raise AssertionError(f"project still {Project.objects.get(id=project_id).status} after 60 s")


@pytest.mark.django_db(transaction=True)
def test_an_order_completes_with_agents_answering_over_http(
    over_http: dict[str, int], shaped_order: None, live_server: Any
) -> None:
    project = _order_over_http(live_server.url)

    assert project.status == ProjectStatus.DELIVERED
    run = WorkflowRun.objects.get(project=project)
    assert run.status == RunStatus.SUCCEEDED
    assert over_http["agent"] == 6
    notify = Task.objects.get(run=run, step="notify")
    assert set(notify.output["inputs"]) == {"deploy", "campaign"}  # dependency outputs travel in the request
    assert not AgentRun.objects.exclude(outcome=AttemptOutcome.SUCCEEDED).exists()


@pytest.mark.django_db(transaction=True)
def test_an_order_completes_with_agents_answering_202_and_calling_back(
    over_http: dict[str, int], shaped_order: None, live_server: Any, settings: Any
) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "HTTP_RESPOND_ASYNC": True}

    project = _order_over_http(live_server.url)

    assert project.status == ProjectStatus.DELIVERED
    assert over_http["agent"] == 6
    callbacks = WebhookEvent.objects.filter(source=EventSource.AGENT)
    assert callbacks.count() == 6
    assert set(callbacks.values_list("status", flat=True)) == {EventStatus.PROCESSED}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("respond_async", [False, True], ids=["answering", "calling-back"])
def test_the_real_order_is_delivered_by_the_four_agents_over_http(
    over_http: dict[str, int], live_server: Any, settings: Any, tmp_path: Any, respond_async: bool
) -> None:
    pytest.importorskip("agents.actions", reason="the four agents' actions are not importable yet")
    settings.MEDIA_ROOT = str(tmp_path)
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "HTTP_RESPOND_ASYNC": respond_async}

    project = _order_over_http(live_server.url)

    assert project.status == ProjectStatus.DELIVERED, Task.objects.filter(last_error__gt="").values_list(
        "step", "last_error"
    )
    assert project.site_url
    assert over_http["agent"] >= 6


@pytest.mark.django_db
def test_an_agent_that_answers_202_and_never_calls_back_is_covered_by_the_lease(
    clock: Any, http_mode: None, httpserver: HTTPServer, settings: Any
) -> None:
    settings.AGENTS_BASE_URL = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/api/engine/echo", method="POST").respond_with_data("", status=202)
    run = run_start(workflow="test-http-one")

    tick(budget=Budget.seconds(10))

    task = Task.objects.get(run=run)
    assert task.status == TaskStatus.RUNNING
    assert (task.lease_expires_at - clock.now()).total_seconds() == pytest.approx(30, abs=1)  # the step's timeout
    clock.advance(31)
    assert recover_expired_leases() == 1
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.QUEUED, 1)
    assert AgentRun.objects.get(task=task).outcome == AttemptOutcome.TIMED_OUT


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "task_status"),
    # 501: the route does not implement the method, and never will; the provider client agrees.
    [(503, TaskStatus.QUEUED), (429, TaskStatus.QUEUED), (404, TaskStatus.DEAD), (501, TaskStatus.DEAD)],
)
def test_an_agent_error_answer_is_a_retry_or_a_permanent_failure(
    http_mode: None, httpserver: HTTPServer, settings: Any, status: int, task_status: str
) -> None:
    settings.AGENTS_BASE_URL = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/api/engine/echo").respond_with_json({"error": {}}, status=status)
    run = run_start(workflow="test-http-one")

    tick(budget=Budget.seconds(10), max_tasks=1)

    task = Task.objects.get(run=run)
    assert task.status == task_status
    assert f"answered {status}" in task.last_error


@pytest.mark.django_db
def test_an_unreachable_agent_is_a_retryable_failure(http_mode: None, settings: Any) -> None:
    settings.AGENTS_BASE_URL = "http://127.0.0.1:9"  # discard port: connection refused
    run = run_start(workflow="test-http-one")

    tick(budget=Budget.seconds(10), max_tasks=1)

    task = Task.objects.get(run=run)
    assert task.status == TaskStatus.QUEUED
    assert "unreachable" in task.last_error


@pytest.mark.django_db
def test_the_agent_request_is_signed_with_the_current_key(
    http_mode: None, httpserver: HTTPServer, settings: Any
) -> None:
    settings.AGENTS_BASE_URL = httpserver.url_for("").rstrip("/")
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append((dict(request.headers), request.get_data()))
        return Response("", status=202)

    httpserver.expect_request("/api/engine/echo").respond_with_handler(handler)
    run_start(workflow="test-http-one")

    tick(budget=Budget.seconds(10), max_tasks=1)

    ((headers, body),) = seen
    lowered = {k.lower(): v for k, v in headers.items()}
    # Raises if not signed with the current key, as derived for this one route (gateway.signatures).
    Webhook(route_key(settings.WEBHOOK_SECRET, "/api/engine/echo")).verify(body, lowered)
    payload = json.loads(body)
    assert (payload["action"], payload["attempt"], payload["respond"]) == ("engine.echo", 1, "sync")


def test_a_failing_callback_is_retried_with_bounded_backoff(httpserver: HTTPServer) -> None:
    for status in (500, 503):
        httpserver.expect_ordered_request("/cb").respond_with_data("", status=status)
    httpserver.expect_ordered_request("/cb").respond_with_json({"received": True})
    delays: list[float] = []
    report = dispatch.Report("task_completed", task_id=1, attempt=1, data={"output": {}}, agent_id="engine")

    delivered = dispatch.call_back(report, httpserver.url_for("/cb"), sleep=delays.append)

    assert delivered is True
    assert delays == [0.5, 1.0]
    # Only this test's route: the fixture's server is shared by the session, and a thread a
    # previous test left behind may still be talking to another of its routes.
    ids = {request.headers["webhook-id"] for request, _ in httpserver.log if request.path == "/cb"}
    assert len(ids) == 1  # one webhook-id for every try: the receiver deduplicates


def test_a_callback_gives_up_after_its_last_try(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/cb").respond_with_data("", status=502)
    delays: list[float] = []
    report = dispatch.Report("task_failed", task_id=1, attempt=2, data={"error": "x"}, agent_id="engine")

    assert dispatch.call_back(report, httpserver.url_for("/cb"), sleep=delays.append) is False
    assert sum(request.path == "/cb" for request, _ in httpserver.log) == dispatch.CALLBACK_ATTEMPTS
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert max(delays) <= dispatch.CALLBACK_BACKOFF_CAP_SECONDS


def test_the_claim_of_one_run_leaves_other_runs_alone(db: Any) -> None:
    mine = run_start(workflow="test-http-one")
    run_start(workflow="test-http-one")

    claimed = queue.claim(limit=10, worker="t", now=engine_clock.now(), run_id=mine.id)

    assert [c.run_id for c in claimed] == [str(mine.id)]


# --- The agent side: an action that raises is reported as the inline executor records it -------


def _dispatched(action: str, monkeypatch: pytest.MonkeyPatch, raises: BaseException | None = None) -> dispatch.Report:
    """The report of a dispatch request for `action` (attempt 3 of task 7), run on the agent side;
    with `raises`, the action is one that raises it."""
    if raises is not None:

        def raising(ctx: Any) -> Any:
            raise raises

        monkeypatch.setattr(dispatch, "get_action", lambda name: raising)
    request = {"taskId": 7, "attempt": 3, "action": action, "deadlineSeconds": 10}
    return dispatch.run_dispatched(request, budget=Budget.seconds(10))


def test_an_action_that_raises_is_reported_failed_with_its_error_traceback_and_location(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = _dispatched("test.crash", monkeypatch)

    assert (report.type, report.task_id, report.attempt, report.agent_id) == ("task_failed", 7, 3, "test")
    traceback_text = report.data.pop("traceback")
    # An unknown bug is retried within the step's policy; the grouping key is our innermost frame.
    assert report.data == {
        "error": "unexpected bug",
        "retryable": True,
        "errorType": "RuntimeError",
        "location": "tests.actions:crash",
    }
    assert traceback_text.startswith("Traceback (most recent call last):\n  File ")
    assert traceback_text.endswith("RuntimeError: unexpected bug\n")


def test_a_permanent_error_is_reported_not_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    report = _dispatched("test.permanent", monkeypatch)

    assert report.type == "task_failed"
    assert (report.data["retryable"], report.data["errorType"]) == (False, "PermanentError")
    assert report.data["error"] == "the brief is invalid"


def test_an_error_without_a_message_is_reported_by_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    report = _dispatched("engine.echo", monkeypatch, raises=RuntimeError())

    assert report.data["error"] == "RuntimeError"


def test_a_failure_traceback_keeps_its_last_20000_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    report = _dispatched("engine.echo", monkeypatch, raises=RuntimeError("x" * 30_000 + "the end"))

    assert len(report.data["traceback"]) == 20_000
    assert report.data["traceback"].endswith("x" * 100 + "the end\n")  # the end: where the error is
    assert report.data["error"] == "x" * 30_000 + "the end"  # the message itself is whole


def test_an_effect_in_progress_is_reported_with_when_to_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.exceptions import EffectInProgress

    held = _dispatched("engine.echo", monkeypatch, raises=EffectInProgress("held by attempt 2", retry_after=12))
    plain = _dispatched("engine.echo", monkeypatch, raises=RuntimeError("no hold"))

    assert held.data["retryAfter"] == 12.0 and isinstance(held.data["retryAfter"], float)
    assert (held.data["retryable"], held.data["errorType"]) == (True, "EffectInProgress")
    assert "retryAfter" not in plain.data  # no hold: the step's own backoff


def test_a_refused_callback_is_definitive_and_logged_as_an_error(httpserver: HTTPServer, caplog: Any) -> None:
    httpserver.expect_request("/cb-refused").respond_with_json({"error": {}}, status=400)
    delays: list[float] = []
    report = dispatch.Report("task_completed", task_id=41, attempt=1, data={"output": {}}, agent_id="engine")

    with caplog.at_level(logging.INFO, logger="orchestration.dispatch"):
        delivered = dispatch.call_back(report, httpserver.url_for("/cb-refused"), sleep=delays.append)

    # Delivered: a refusal is an answer, retrying the same body cannot change it.
    assert delivered is True
    assert delays == []
    assert sum(request.path == "/cb-refused" for request, _ in httpserver.log) == 1
    [refused] = [r for r in caplog.records if r.name == "orchestration.dispatch"]
    assert (refused.levelno, refused.getMessage()) == (logging.ERROR, "callback refused")
    assert (refused.action, refused.task_id, refused.status) == ("callback_refused", 41, 400)


# --- The engine side: a failed dispatch is the engine's DispatchError, at the agent's route ---------


@pytest.mark.django_db
def test_a_failed_dispatch_is_recorded_as_a_dispatch_error_at_the_agent_route(
    http_mode: None, httpserver: HTTPServer, settings: Any, caplog: Any
) -> None:
    from orchestration import signals

    settings.AGENTS_BASE_URL = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/api/engine/echo").respond_with_json({"error": {}}, status=404)
    run = run_start(workflow="test-http-one")
    [claimed] = queue.claim(limit=1, worker="t", now=engine_clock.now(), run_id=run.id)
    failures: list[dict[str, Any]] = []

    def seen(sender: Any, **kwargs: Any) -> None:
        failures.append(kwargs)

    signals.attempt_failed.connect(seen, sender=Task)
    try:
        with caplog.at_level(logging.INFO, logger="orchestration.dispatch"):
            outcome = dispatch.dispatch(claimed, budget=Budget.seconds(10))
    finally:
        signals.attempt_failed.disconnect(seen, sender=Task)

    assert outcome == dispatch.FAILED
    error = f"Agent route {settings.AGENTS_BASE_URL}/api/engine/echo answered 404"
    [failure] = failures
    # Errors are grouped by type and location: one route that refuses is one group.
    assert (failure["error_type"], failure["location"], failure["message"]) == (
        "DispatchError",
        "/api/engine/echo",
        error,
    )
    assert AgentRun.objects.get(task_id=claimed.id).error_type == "DispatchError"
    [logged] = [r for r in caplog.records if r.name == "orchestration.dispatch"]
    assert (logged.levelno, logged.getMessage()) == (logging.WARNING, "dispatch failed")
    assert (logged.action, logged.task_id, logged.error) == ("dispatch_failed", claimed.id, error)


@pytest.mark.django_db
def test_a_failed_dispatch_of_an_attempt_that_lost_its_lease_is_stale(
    http_mode: None, httpserver: HTTPServer, settings: Any
) -> None:
    from orchestration import services

    settings.AGENTS_BASE_URL = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/api/engine/echo").respond_with_json({"error": {}}, status=404)
    run = run_start(workflow="test-http-one")
    [claimed] = queue.claim(limit=1, worker="t", now=engine_clock.now(), run_id=run.id)
    # Meanwhile the attempt was settled elsewhere (a callback that came first).
    assert services.task_complete(task_id=claimed.id, output={"by": "callback"}, lease_token=claimed.lease_token)

    assert dispatch.dispatch(claimed, budget=Budget.seconds(10)) == dispatch.STALE
    task = Task.objects.get(id=claimed.id)
    assert (task.status, task.output) == (TaskStatus.SUCCEEDED, {"by": "callback"})


@pytest.mark.parametrize(
    ("value", "honoured"),
    [
        (120, 120.0),
        (0.5, 0.5),  # under a second: still a hold to wait for
        (86_400, 86_400.0),  # a day at most
        (86_400.5, None),
        (-0.5, None),
        (True, None),  # JSON true is no number of seconds
        ("120", None),
        (None, None),
    ],
)
def test_a_reported_retry_after_counts_when_it_is_a_number_of_seconds_up_to_a_day(
    value: Any, honoured: float | None
) -> None:
    retry_after = dispatch._retry_after(value)

    assert retry_after == honoured
    assert retry_after is None or isinstance(retry_after, float)
