"""HTTP dispatch mode: the same order completes with every agent reached over HTTP,
answering with the result or with 202 and a signed callback; failures map to retries."""

from __future__ import annotations

import json
import time
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
from tests.gateway.conftest import BRIEF, checkout_event, stripe_headers

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
def over_http(live_server: Any, settings: Any, http_mode: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
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
    return calls


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
